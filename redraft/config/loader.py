"""Load YAML into pydantic models; every failure becomes one ConfigError naming file, key and line."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from ..errors import ConfigError

M = TypeVar("M", bound=BaseModel)

# Deeper than any configuration needs; far below where parsing (and later dumping) would hit Python's recursion limit.
MAX_DEPTH = 64


# The most redraft reads of one file. Far above any real scenario, card, model list or .env (a few KB), and
# a clear refusal instead of reading until memory runs out when a path names something endless.
MAX_CONFIG_BYTES = 10 * 1024 * 1024
# Data files (inputs_file, dataset files) hold many examples; still a cap, since they are read whole.
MAX_DATA_BYTES = 100 * 1024 * 1024

_SPECIAL = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
            (stat.S_ISSOCK, "a socket"))


def read_text(path: Path, encoding: str = "utf-8", *, holding: str = "UTF-8 text", limit: int = MAX_CONFIG_BYTES) -> str:
    """A text file's contents; a missing, special, too large, unreadable or non-UTF-8 file is a ConfigError naming
    it and what was expected (`holding`: what the file should hold). Newlines read as Python's text mode reads them."""
    raw = read_regular(path, holding=holding, limit=limit)
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), f"the file is not UTF-8 text (byte {exc.start}); expected UTF-8 text: save it as UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_regular(path: Path, *, holding: str, limit: int = MAX_CONFIG_BYTES) -> bytes:
    """The bytes of a regular file (a link is followed) of at most `limit` bytes, else a ConfigError naming it.

    The kind of file is checked before it is opened: opening a pipe for reading waits for a writer forever, and a
    device such as /dev/zero never ends. It is opened without blocking and checked again, in case it was swapped in
    between, and at most limit + 1 bytes are read, in case a file is longer than it said."""
    try:
        _check_regular(path, os.stat(path), holding, limit)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as fh:
            _check_regular(path, os.fstat(fh.fileno()), holding, limit)
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise ConfigError(str(path), f"file not found{_link_note(path)}") from None
    except IsADirectoryError:
        raise ConfigError(str(path), f"is a folder; expected a file holding {holding}") from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read the file: {exc.strerror}") from None
    if len(data) > limit:
        raise _too_large(path, len(data), holding, limit)
    return data


def _check_regular(path: Path, info: os.stat_result, holding: str, limit: int) -> None:
    """Refuse a folder, a pipe, a device or a socket, and a file larger than `limit`, by its stat."""
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(str(path), f"is a folder; expected a file holding {holding}")
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _SPECIAL if test(info.st_mode)), "a special file")
        what = f"is a link to {os.path.realpath(path)}, which is" if path.is_symlink() else "is"
        raise ConfigError(str(path), f"{what} not a regular file ({kind}); expected a file holding {holding}")
    if info.st_size > limit:
        raise _too_large(path, info.st_size, holding, limit)


def _too_large(path: Path, size: int, holding: str, limit: int) -> ConfigError:
    return ConfigError(str(path), f"the file is {size / 2**20:.1f} MB, more than redraft reads; expected a file "
                       f"holding {holding} of at most {limit // 2**20} MB")


def _link_note(path: Path) -> str:
    """For a missing file reached through a link: where the link leads."""
    return f" (a link to {os.readlink(path)}, which does not exist)" if path.is_symlink() else ""


@dataclass(frozen=True)
class YamlDoc:
    """A parsed YAML file: its data, and its node tree (for line numbers in messages)."""

    path: Path
    data: Any = None
    node: yaml.Node | None = None

    def error(self, key: str, message: str, loc: tuple[Any, ...] | None = None) -> ConfigError:
        """A ConfigError pointing at `key` (at `loc`, by default the key's path) in this file."""
        line = line_of(self.node, loc if loc is not None else tuple(key.split("."))) if self.node else None
        return ConfigError(str(self.path), message, key=key, line=line)


def parse_yaml(path: Path, holding: str = "YAML") -> YamlDoc:
    """Parse a YAML file safely, once, into its data and node tree (`holding`: what the file is, for messages)."""
    text = read_text(path, holding=holding)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_tree(path, node)
        data = loader.construct_document(node) if node is not None else None
    except RecursionError:
        raise ConfigError(str(path), f"the YAML is nested too deeply; expected at most {MAX_DEPTH} levels") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or str(exc)
        raise ConfigError(str(path), f"invalid YAML: {problem}", line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return YamlDoc(path, data, node)


def _check_tree(path: Path, root: yaml.Node) -> None:
    """Refuse a mapping that sets a key twice (YAML would silently keep the last) and nesting deeper than MAX_DEPTH."""
    todo: list[tuple[yaml.Node, tuple[Any, ...]]] = [(root, ())]
    while todo:  # iteratively: the point is to refuse what would exhaust the stack
        node, loc = todo.pop()
        line = node.start_mark.line + 1
        if len(loc) > MAX_DEPTH:
            raise ConfigError(str(path), f"the YAML is nested too deeply; expected at most {MAX_DEPTH} levels",
                              key=key_path(loc[:3]) + "...", line=line)
        if isinstance(node, yaml.SequenceNode):
            todo.extend((child, (*loc, i)) for i, child in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                if key is not None and key != "<<":  # merge keys may repeat what they merge
                    key_line = key_node.start_mark.line + 1
                    if key in seen:
                        raise ConfigError(str(path), f"duplicate key, also set on line {seen[key]}; YAML would keep "
                                          "only the last one, so give each key once", key=key_path((*loc, key)),
                                          line=key_line)
                    seen[key] = key_line
                todo.append((value_node, (*loc, key)))


def read_yaml(path: Path, holding: str = "YAML") -> tuple[Any, yaml.Node | None]:
    """Parse a YAML file safely; return the data and its node tree (for line numbers)."""
    doc = parse_yaml(path, holding)
    return doc.data, doc.node


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest node along a key path, or None."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    node = value_node
                    line = key_node.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def key_path(loc: tuple[Any, ...]) -> str:
    """Render a pydantic location as `critics[0].model`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _explain(err: dict[str, Any]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "value_error" and "error" in err.get("ctx", {}):
        return str(err["ctx"]["error"])  # our own validators' words, without pydantic's "Value error, "
    msg = err["msg"]
    return msg[0].lower() + msg[1:] if msg else kind


def validation_to_config_error(
    exc: ValidationError, file: str, node: yaml.Node | None, allowed: dict[str, list[str]] | None = None
) -> ConfigError:
    """Turn the first pydantic error into a ConfigError; mention further errors by count."""
    errors = exc.errors(include_url=False)
    err = errors[0]
    # Errors from a tagged union or a model_validator carry the model name in loc; drop it.
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p[:1].isupper()))
    message = _explain(err)
    if err["type"] == "extra_forbidden" and allowed is not None:
        parent = key_path(loc[:-1]) if loc[:-1] else ""
        keys = allowed.get(parent)
        if keys:
            message += f"; expected one of: {', '.join(keys)}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return ConfigError(file, message, key=key_path(loc), line=line_of(node, loc))


def load_model(path: Path, model: type[M], *, context: dict[str, Any] | None = None) -> M:
    """Read a YAML file into `model`, refusing unknown keys, with errors that name file/key/line."""
    return parse_model(parse_yaml(path), model, context=context)


def parse_model(doc: YamlDoc, model: type[M], *, context: dict[str, Any] | None = None) -> M:
    """Validate a parsed file's data as `model`, with errors that name file/key/line."""
    if doc.data is None:
        raise ConfigError(str(doc.path), f"the file is empty; expected a mapping of {model.__name__} keys")
    if not isinstance(doc.data, dict):
        raise ConfigError(str(doc.path), f"expected a mapping of keys at the top level, got {type(doc.data).__name__}", line=1)
    try:
        return model.model_validate(doc.data, context=context)
    except ValidationError as exc:
        raise validation_to_config_error(exc, str(doc.path), doc.node, allowed_keys(model)) from None


def check_value(model: type[BaseModel], field: str, value: Any, name: str) -> Any:
    """A value given outside a file (a command-line flag, `name`) checked against the bounds of `model.field`."""
    info = model.model_fields[field]
    try:
        return TypeAdapter(Annotated[(info.annotation, *info.metadata)]).validate_python(value)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        wanted = err["msg"].removeprefix("Input should be ")
        expected = f"a value {wanted}" if wanted != err["msg"] else _explain(err)
        raise ConfigError(name, f"expected {expected}, got {value}") from None


def allowed_keys(model: type[BaseModel], prefix: str = "") -> dict[str, list[str]]:
    """Map each nested key path to the keys its model accepts (for 'unknown key' hints)."""
    out: dict[str, list[str]] = {prefix: list(model.model_fields)}
    for name, field in model.model_fields.items():
        for ann in (field.annotation, *get_args(field.annotation)):  # a model, or a model | None
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                out.update(allowed_keys(ann, f"{prefix}.{name}" if prefix else name))
    return out

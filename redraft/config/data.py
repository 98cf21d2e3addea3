"""Labeled examples for scenarios: JSONL or CSV rows turned into inputs and targets, split by seed."""

from __future__ import annotations

import csv
import json
import math
import os
import random
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import ConfigError
from .loader import MAX_DATA_BYTES, YamlDoc, parse_yaml, read_text

SUFFIXES = (".jsonl", ".csv")

# Builds the error for one problem with one example: (message, field or None) -> ConfigError.
Fail = Callable[[str, str | None], ConfigError]

# The scenario file that errors point into: already parsed, a path to parse if an error needs a line, or none.
ScenarioRef = YamlDoc | str | None


class SplitSpec(BaseModel):
    """How many examples go to train, dev and test, and the seed that picks them."""

    model_config = ConfigDict(extra="forbid")

    train: int = Field(ge=0)
    dev: int = Field(ge=0)
    test: int = Field(ge=0)
    seed: int = 0


class DatasetSpec(BaseModel):
    """Where a scenario's labeled examples come from and how a row becomes an input and a target."""

    model_config = ConfigDict(extra="forbid")

    file: str | None = None
    train_file: str | None = None
    dev_file: str | None = None
    test_file: str | None = None
    input: str | list[str] = "input"
    template: str | None = None
    target: str = "target"
    id: str | None = None
    split: SplitSpec

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        pools = [k for k in ("train_file", "dev_file", "test_file") if getattr(self, k) is not None]
        if self.file is not None and pools:
            raise ValueError(
                f"give either 'file' (one file split into train/dev/test) or 'train_file' and 'dev_file' "
                f"(separate pools), not both; remove 'file' or {', '.join(repr(k) for k in pools)}"
            )
        if self.file is None:
            if not pools:
                raise ValueError(
                    "give 'file' (one JSONL or CSV file split into train/dev/test) "
                    "or 'train_file' and 'dev_file' (separate pools, with an optional 'test_file')"
                )
            for key in ("train_file", "dev_file"):
                if getattr(self, key) is None:
                    raise ValueError(f"separate pools need both 'train_file' and 'dev_file'; '{key}' is missing")
        names = self.input_fields
        if not names or any(not n.strip() for n in names):
            raise ValueError("'input' must name at least one field, e.g. 'input: question' or 'input: [subject, body]'")
        if len(set(names)) != len(names):
            raise ValueError(f"'input' names a field twice: {', '.join(names)}")
        if self.template is not None:
            tpl = string.Template(self.template)
            if not tpl.is_valid():
                raise ValueError("'template' has an invalid placeholder; write $field or ${field}, and $$ for a literal $")
            if not tpl.get_identifiers():
                raise ValueError("'template' uses no $field variable, so every example would get the same input")
        return self

    @property
    def input_fields(self) -> list[str]:
        """The input field names, as a list."""
        return [self.input] if isinstance(self.input, str) else list(self.input)

    @property
    def row_fields(self) -> RowFields:
        """The fields each row's example is made of."""
        return RowFields(self.input_fields, self.template, self.target, self.id)


class RowFields(NamedTuple):
    """Which fields of a row make an example: the input (or a template over fields), the target and the id."""

    inputs: list[str]
    template: str | None
    target: str
    id: str | None


class Example(BaseModel):
    """One labeled example: the text the Task Executor gets and the answer expected back."""

    model_config = ConfigDict(extra="forbid")

    id: str
    input: str
    target: str
    fields: dict[str, Any] = {}


class ExampleResult(BaseModel):
    """One example's score, and what the metric extracted (shown for failures)."""

    score: float
    extracted: str | None = None
    feedback: str | None = None
    error: str | None = None  # the metric failed on this output (scored 0)


class Splits(BaseModel):
    """The examples used to refine a prompt (train), choose between prompts (dev) and report (test)."""

    model_config = ConfigDict(extra="forbid")

    train: list[Example]
    dev: list[Example]
    test: list[Example]


def read_rows(path: Path, *, string_field: str | None = None) -> list[tuple[int, dict[str, Any]]]:
    """The rows of a .jsonl or .csv file, each with its 1-based line number.

    With `string_field`, a JSONL line that is a JSON string is read as a row with that one field.
    """
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigError(str(path), f"unsupported file type '{path.suffix}'; expected .jsonl or .csv")
    # utf-8-sig: spreadsheet programs often save CSV with a byte-order mark.
    text = read_text(path, encoding="utf-8-sig", holding=f"{suffix} rows ({DATA_FILES[suffix]})", limit=MAX_DATA_BYTES)
    if not text.strip():
        raise ConfigError(str(path), f"the file is empty; expected {DATA_FILES[suffix]}")
    return _jsonl_rows(path, text, string_field) if suffix == ".jsonl" else _csv_rows(path, text)


def _jsonl_rows(path: Path, text: str, string_field: str | None = None) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(str(path), f"line is not valid JSON: {exc.msg} (column {exc.colno})", line=n) from None
        except RecursionError:
            raise ConfigError(str(path), "the line's JSON is nested too deeply; expected one flat object", line=n) from None
        if string_field is not None and isinstance(obj, str):
            obj = {string_field: obj}
        if not isinstance(obj, dict):
            also = " or a JSON string" if string_field is not None else ""
            raise ConfigError(str(path), f"expected a JSON object{also} per line, got {_kind(obj)}", line=n)
        rows.append((n, obj))
    return rows


def _csv_rows(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    # csv.DictReader's semantics, but reading rows ourselves so a row's number is the line it starts on
    # even after blank lines and quoted values that span lines.
    reader = csv.reader(text.splitlines(keepends=True), strict=True)
    header: list[str] | None = None
    rows: list[tuple[int, dict[str, Any]]] = []
    end = 0
    try:
        for cells in reader:
            start, end = end + 1, reader.line_num
            if not cells:
                continue
            if header is None:
                header = [c.strip() for c in cells]
                dupes = sorted({c for c in header if header.count(c) > 1})
                if dupes:
                    raise ConfigError(str(path), f"the header names a column twice: {', '.join(dupes)}", line=start)
                continue
            if len(cells) > len(header):
                raise ConfigError(
                    str(path), f"the row has {len(cells)} cells but the header has {len(header)} columns", line=start
                )
            # A short row lacks its last columns, as if those keys were absent.
            rows.append((start, dict(zip(header, cells))))
    except csv.Error as exc:
        raise ConfigError(str(path), f"invalid CSV: {exc}", line=reader.line_num) from None
    if not rows:
        raise ConfigError(str(path), "the file has a header line but no rows; expected one row per example")
    return rows


def load_examples(spec: DatasetSpec, base_dir: Path, *, scenario_file: ScenarioRef = None) -> Splits:
    """Read the dataset (paths relative to `base_dir`) and split it; the same seed gives the same splits.

    Ids default to "<pool>-<line>", where the pool is the file's stem for a single `file` and
    train / dev / test for separate pool files.
    """
    split = spec.split
    if spec.file is not None:
        path = data_file(spec.file, "dataset.file", base_dir, scenario_file, DATA_FILES)
        pool = _read_pool(spec, path, path.stem)
        _check_unique_ids([(path, pool)])
        examples = [example for _, example in pool]
        return split_examples(examples, split, spec.file,
                              lambda message: _scenario_error(scenario_file, str(path), "dataset.split", message))

    assert spec.train_file is not None and spec.dev_file is not None  # guaranteed by DatasetSpec
    train_path = data_file(spec.train_file, "dataset.train_file", base_dir, scenario_file, DATA_FILES)
    dev_path = data_file(spec.dev_file, "dataset.dev_file", base_dir, scenario_file, DATA_FILES)
    train_pool = _read_pool(spec, train_path, "train")
    dev_pool = _read_pool(spec, dev_path, "dev")
    pools = [(train_path, train_pool), (dev_path, dev_pool)]
    test_pool: list[tuple[int, Example]] | None = None
    if spec.test_file is not None:
        test_path = data_file(spec.test_file, "dataset.test_file", base_dir, scenario_file, DATA_FILES)
        test_pool = _read_pool(spec, test_path, "test")
        pools.append((test_path, test_pool))
    _check_unique_ids(pools)

    def too_few(asked: str, name: str, path: Path, have: int) -> ConfigError:
        return _scenario_error(scenario_file, str(path), "dataset.split", f"split asks for {asked} but {name} has {have}")

    if split.train > len(train_pool):
        raise too_few(f"{split.train} train examples", spec.train_file, train_path, len(train_pool))
    if test_pool is None:
        if split.dev + split.test > len(dev_pool):
            asked = f"{split.dev} dev + {split.test} test = {split.dev + split.test} examples (test is carved out of dev_file)"
            raise too_few(asked, spec.dev_file, dev_path, len(dev_pool))
    else:
        if split.dev > len(dev_pool):
            raise too_few(f"{split.dev} dev examples", spec.dev_file, dev_path, len(dev_pool))
        if split.test > len(test_pool):
            raise too_few(f"{split.test} test examples", str(spec.test_file), pools[-1][0], len(test_pool))

    dev_all = _shuffled([e for _, e in dev_pool], split.seed)
    if test_pool is None:
        test = dev_all[split.dev : split.dev + split.test]
    else:
        test = _shuffled([e for _, e in test_pool], split.seed)[: split.test]
    train = _shuffled([e for _, e in train_pool], split.seed)[: split.train]
    return Splits(train=train, dev=dev_all[: split.dev], test=test)


def split_examples(examples: list[Example], spec: SplitSpec, source: str, error: Callable[[str], ConfigError]) -> Splits:
    """Shuffle by the split's seed, then take train, dev and test; asking for more than `source` has is an error."""
    need = spec.train + spec.dev + spec.test
    if need > len(examples):
        raise error(f"split asks for {spec.train} train + {spec.dev} dev + {spec.test} test = {need} examples "
                    f"but {source} has {len(examples)}")
    picked = _shuffled(examples, spec.seed)
    return Splits(train=picked[: spec.train], dev=picked[spec.train : spec.train + spec.dev],
                  test=picked[spec.train + spec.dev : need])


def _shuffled(examples: list[Example], seed: int) -> list[Example]:
    # The same seed gives the same order, so a split is reproducible.
    out = list(examples)
    random.Random(seed).shuffle(out)
    return out


def inline_examples(items: list[dict[str, Any]], *, scenario_file: ScenarioRef = None) -> list[Example]:
    """Examples listed in the scenario as `examples: [{input: ..., target: ...}, ...]`; ids default to examples-<n>."""
    doc = _scenario_doc(scenario_file)

    def error(key: str, loc: tuple[Any, ...], message: str) -> ConfigError:
        return doc.error(key, message, loc) if doc is not None else ConfigError(None, message, key=key)

    if not isinstance(items, list) or not items:
        raise error("examples", ("examples",), "expected a non-empty list of {input: ..., target: ...} mappings")
    out: list[Example] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        key = f"examples[{i}]"

        def fail(message: str, field: str | None, i: int = i, key: str = key) -> ConfigError:
            if field is not None and isinstance(items[i], dict) and field in items[i]:
                return error(f"{key}.{field}", ("examples", i, field), message)
            return error(key, ("examples", i), message)

        if not isinstance(item, dict):
            raise fail(f"expected a mapping with 'input' and 'target', got {_kind(item)}", None)
        fields = RowFields(["input"], None, "target", "id" if "id" in item else None)
        example = _example(item, fields, f"examples-{i + 1}", fail)
        if example.id in seen:
            raise fail(f"duplicate id '{example.id}', also used by examples[{seen[example.id]}]", "id")
        seen[example.id] = i
        out.append(example)
    return out


def _read_pool(spec: DatasetSpec, path: Path, pool: str) -> list[tuple[int, Example]]:
    out = []
    for line, row in read_rows(path):

        def fail(message: str, field: str | None, line: int = line) -> ConfigError:
            return ConfigError(str(path), message, line=line)

        out.append((line, _example(row, spec.row_fields, f"{pool}-{line}", fail)))
    return out


def _example(row: dict[str, Any], fields: RowFields, default_id: str, fail: Fail) -> Example:
    """Build one Example from a row; every problem is raised through `fail`."""

    def value(name: str, role: str) -> str:
        if name not in row:
            have = ", ".join(repr(k) for k in row) or "no fields"
            if role == "template":
                raise fail(f"the template uses ${name} but the row has no '{name}' field; it has: {have}", None)
            raise fail(f"missing the {role} field '{name}'; this row has: {have}", None)
        text = _text(row[name])
        if text is None:
            raise fail(f"the {role} field '{name}' must be a string or a number, got {_kind(row[name])}", name)
        if not text.strip():
            raise fail(f"the {role} field '{name}' is empty", name)
        return text

    if fields.template is not None:
        tpl = string.Template(fields.template)
        values = {name: value(name, "template") for name in tpl.get_identifiers()}
        input_text = tpl.substitute(values)
    elif len(fields.inputs) == 1:
        input_text = value(fields.inputs[0], "input")
    else:
        input_text = "\n".join(f"{name}: {value(name, 'input')}" for name in fields.inputs)
    target = value(fields.target, "target")
    ex_id = value(fields.id, "id") if fields.id is not None else default_id
    return Example(id=ex_id, input=input_text, target=target, fields=dict(row))


def _text(value: Any) -> str | None:
    """A string or a finite number as text (18 -> "18", 2.5 -> "2.5"); None for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return str(value)
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    return type(value).__name__


def _check_unique_ids(pools: list[tuple[Path, list[tuple[int, Example]]]]) -> None:
    # Across pools too: the same id in train and dev usually means an example leaked between them.
    seen: dict[str, tuple[Path, int]] = {}
    for path, pool in pools:
        for line, example in pool:
            if example.id in seen:
                first_path, first_line = seen[example.id]
                where = f"line {first_line}" if first_path == path else f"{first_path} line {first_line}"
                raise ConfigError(str(path), f"duplicate id '{example.id}': also on {where}", line=line)
            seen[example.id] = (path, line)


# What each kind of file holds, for messages: the files a dataset can be read from...
DATA_FILES = {".jsonl": "one JSON object per line", ".csv": "a header line and one row per example"}
# ...and the files a scenario's unlabeled inputs can be read from.
INPUT_FILES = {".txt": "one input per line", ".jsonl": 'an {"input": ...} object or a JSON string per line',
               ".csv": "an 'input' column"}


def data_file(name: str, key: str, base_dir: Path, scenario_file: ScenarioRef, kinds: dict[str, str]) -> Path:
    """The file a scenario key names (relative to `base_dir`): it must exist, be a regular file and have one of
    the suffixes in `kinds`; each problem is an error pointing at the key, saying what was expected."""
    path = Path(name)
    if not path.is_absolute():
        path = base_dir / path
    kinds_text = [f"{suffix} ({what})" for suffix, what in kinds.items()]
    expected = ", ".join(kinds_text[:-1]) + f" or {kinds_text[-1]}" if len(kinds_text) > 1 else kinds_text[0]
    problem = None
    if path.is_dir():
        problem = f"is a folder, not a file: {path}"
    elif not path.exists():
        problem = f"file not found: {path} (paths are relative to the scenario's folder)"
    elif not path.is_file():
        problem = f"is not a regular file (a device or a pipe): {path}"
    elif path.stat().st_size > MAX_DATA_BYTES:
        problem = (f"the file is {path.stat().st_size / 2**20:.1f} MB, more than the {MAX_DATA_BYTES // 2**20} MB "
                   f"redraft reads: {path}")
    elif path.suffix.lower() not in kinds:
        problem = f"unsupported file type '{path.suffix}'" if path.suffix else f"the file name {path.name} has no suffix"
    if problem is None:
        return path
    raise _scenario_error(scenario_file, str(path), key, f"{problem}; expected a file: {expected}")


def link_outside(name: str, key: str, base_dir: Path) -> str | None:
    """A warning when the file `key` names is reached through a link that leads out of the scenario's folder.

    Such a link reads as a file of the scenario's own ("inputs_file: inputs.txt") yet may be any file the user can
    read (/etc/passwd, a private key); loading it is allowed, but it must not pass unsaid. A path that simply names
    a file elsewhere (../shared.csv, /data/x.csv) is what it says, and is not warned about."""
    path = Path(name)
    folder = Path(os.path.realpath(base_dir))
    as_written = Path(os.path.normpath(path if path.is_absolute() else folder / path))
    target = Path(os.path.realpath(as_written))
    if target == as_written or target.is_relative_to(folder):
        return None
    return f"{key}: {name} is a link to {target}, outside the scenario's folder ({folder})"


def _scenario_error(scenario_file: ScenarioRef, fallback_file: str, key: str, message: str) -> ConfigError:
    """An error pointing at `key` in the scenario file, or at the data file when there is no scenario."""
    doc = _scenario_doc(scenario_file)
    return doc.error(key, message) if doc is not None else ConfigError(fallback_file, message, key=key)


def _scenario_doc(scenario_file: ScenarioRef) -> YamlDoc | None:
    # Only for line numbers in messages: a scenario we cannot re-read just gets no line.
    if scenario_file is None or isinstance(scenario_file, YamlDoc):
        return scenario_file
    try:
        return parse_yaml(Path(scenario_file))
    except ConfigError:
        return YamlDoc(Path(scenario_file))

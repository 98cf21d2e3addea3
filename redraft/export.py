"""A run's final prompt in the forms other tools take: the plain text; the chat request the executor sends
(OpenAI JSON); a promptfoo configuration; a Python snippet with the openai client. Built from the run folder
alone (config.json, state.json), so it works on a finished or an interrupted run, and holds no secret:
the run never recorded a key, and each export names the environment variable to read one from."""

from __future__ import annotations

import json
import os
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, get_args
from urllib.parse import urlparse

import yaml

from ._files import write_file_atomic
from .config import Scenario
from .errors import RedraftError
from .portable_metric import check_note, standalone_check
from .records import ModelUse
from .search import executor_messages, template_values
from .secrets import scrub
from .store import RunRecord, read_run

ExportFormat = Literal["text", "messages", "promptfoo", "python"]
FORMATS: tuple[ExportFormat, ...] = get_args(ExportFormat)
INPUT = "{{input}}"  # where each input goes, in every export (promptfoo's variable syntax)
LOCAL_SERVER = "http://127.0.0.1:8080/v1"  # where `llama-server -m FILE --port 8080` answers
_SLOT = "\x00input\x00"  # the input while the messages are rendered, so the prompt's own text is never mistaken for it


@dataclass(frozen=True)
class ExecutorRequest:
    """What the run's executor sends for one input, with INPUT where the input goes."""

    model: str
    messages: list[dict[str, str]]
    temperature: float
    max_tokens: int
    endpoint: ModelUse  # the model as the run recorded it: api_type, base_url or gguf, never a key
    round: int  # the round whose prompt this is

    def body(self) -> dict[str, Any]:
        """The OpenAI chat completions request body."""
        return {"model": self.model, "messages": self.messages_for(INPUT),
                "temperature": self.temperature, "max_tokens": self.max_tokens}

    def messages_for(self, text: str) -> list[dict[str, str]]:
        """The messages sent for one input, `text` where it goes."""
        return [{**m, "content": m["content"].replace(_SLOT, text)} for m in self.messages]


def executor_request(past: RunRecord) -> ExecutorRequest:
    """The final prompt as the run's executor sends it: its card's messages, its model and sampling settings."""
    s = past.summary
    if not s.final_prompt:
        raise RedraftError(f"{past.run.path}: the run has no prompt yet (it stopped before the first proposal); "
                           f"resume it with: redraft resume {past.run.path}")
    name, card = next((n, c) for n, c in past.config.cards.items() if c.role == "task_executor")
    seat = past.config.models[name]
    round_no = s.best_round or len(s.rounds)
    values = template_values(past.config.restored_scenario(), round_no)
    # Without AutoGen's `name` field on user and assistant turns: Mistral's API and vLLM in Mistral mode reject it
    # ("Extra inputs are not permitted"), and no model needs it.
    messages = [{"role": role, "content": text} for role, text in executor_messages(card, values, s.final_prompt, _SLOT)]
    return ExecutorRequest(model=seat.model, messages=messages, temperature=seat.temperature,
                           max_tokens=seat.max_tokens, endpoint=seat, round=round_no)


def export_run(run_dir: str | Path, fmt: ExportFormat, *, note: Callable[[str], None] | None = None) -> str:
    """The run's final prompt in one of FORMATS. note: told when summary.json was damaged (the export then
    comes from state.json, as resume would rebuild it)."""
    if fmt not in FORMATS:
        raise RedraftError(f"unknown export format '{fmt}'; choose one of: {', '.join(FORMATS)}")
    past = read_run(run_dir, purpose="export it")
    damaged = past.damage_note(written=False)
    if damaged and note:
        note(damaged)
    if fmt == "text":
        if not past.summary.final_prompt:
            executor_request(past)  # raises the message for a run without a prompt
        return str(past.summary.final_prompt).rstrip() + "\n"
    request = executor_request(past)
    if fmt == "messages":
        text = json.dumps(request.body(), indent=2, ensure_ascii=False) + "\n"
    elif fmt == "promptfoo":
        text = promptfoo_config(past, request)
    else:
        text = python_snippet(past, request)
    return scrub(text)


# --- --out FILE ---------------------------------------------------------------------------------


def check_out(out: str, *, force: bool) -> Path:
    """The file `--out` names, refused before any work when it cannot or should not be written: a folder, a
    missing folder, a link (dangling or not: a link is never followed), a device or pipe, or an existing file
    without --force. With --force a link is replaced by the file, its target left alone."""
    if not out.strip():
        raise RedraftError("--out: expected a file name, got nothing")
    path = Path(out)
    flag = f"--out {out}"
    if os.path.islink(path):
        if force:
            return path
        raise RedraftError(f"{flag}: is a link; give the file itself (--force replaces the link, not its target)")
    if path.is_dir():
        raise RedraftError(f"{flag}: is a folder; expected a file name")
    if out.endswith(("/", os.sep)):
        raise RedraftError(f"{flag}: ends with '/'; expected a file name")
    folder = path.parent
    if not folder.is_dir():
        state = "is not a folder" if os.path.lexists(folder) else "does not exist"
        raise RedraftError(f"{flag}: folder {folder} {state}")
    if os.path.lexists(path):
        if not path.is_file():
            raise RedraftError(f"{flag}: is not a regular file (a device, pipe or socket); expected a file name, "
                               "or leave out --out and redirect the output")
        if not force:
            raise RedraftError(f"{out} already exists; pass --force to replace it")
    return path


def write_out(out: str, text: str, *, force: bool) -> Path:
    """Write an export to `--out`, atomically: it holds the whole export or stays as it was (a full disk, a
    crash, a file that appeared meanwhile), and a link is never written through. The path written."""
    path = check_out(out, force=force)
    existed = os.path.lexists(path)
    try:
        write_file_atomic(path, text, replace=force)
    except FileExistsError:
        raise RedraftError(f"{out} already exists; pass --force to replace it") from None
    except OSError as exc:
        kept = f"{out} was left as it was" if existed else "nothing was written"
        raise RedraftError(f"--out {out}: cannot write it ({exc.strerror or exc}); {kept}") from None
    return path


# --- promptfoo ----------------------------------------------------------------------------------


def promptfoo_config(past: RunRecord, request: ExecutorRequest) -> str:
    """A promptfooconfig.yaml: the prompt as chat messages, the run's executor model as the provider, and the
    scenario's held-out examples (dev when it holds none out) as tests, each asserting the run's own measure."""
    scenario = past.config.restored_scenario()
    held_out = scenario.splits.test
    check = _check(scenario)
    tests = [{"description": e.id, "vars": {"input": e.input, **({"expected": e.target} if scenario.labeled else {})},
              "assert": check} for e in held_out or scenario.splits.dev]
    config: dict[str, Any] = {
        "description": f"redraft: the final prompt (round {request.round}) of run {past.run.path.name}, "
                       f"scenario {scenario.name}",
        "prompts": [{"label": f"{scenario.name} round {request.round}", "raw": _chat_json(request.messages)}],
        "providers": [_provider(request.endpoint, request.model, request.temperature, request.max_tokens)],
        "tests": tests,
    }
    which = "held-out test examples" if held_out else "dev examples (it holds none out for test)"
    notes = [f"Run with: promptfoo eval -c THIS_FILE. The tests are the scenario's {which}.",
             _what_to_set(request.endpoint, "The run")]
    if scenario.metric is not None:
        notes.append(check_note(scenario.metric))
    else:
        grader = past.config.models[next(n for n, c in past.config.cards.items() if c.role == "critic")]
        provider = _provider(grader, grader.model, 0.0, grader.max_tokens)
        if grader.api_type == "embedded":  # a small model writes promptfoo's grade JSON only when held to it
            provider["config"]["response_format"] = _GRADE_FORMAT
        config["defaultTest"] = {"options": {"provider": provider}}
        notes.append("Each test is graded by the run's critic model (defaultTest.options.provider) against the "
                      "criteria, with the test's input in the rubric.")
        if _what_to_set(grader, "The run") != notes[1]:
            notes.append(_what_to_set(grader, "The grader"))
    head = "".join(f"# {line}\n" for n in notes for line in textwrap.wrap(n, 100, break_long_words=False, break_on_hyphens=False))
    return head + yaml.dump(config, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)


def _check(scenario: Scenario) -> list[dict[str, str]]:
    """Each test's assertion: the run's metric as standalone Python, or a rubric that carries the test's input (the
    grader is sent only the output and the rubric)."""
    if scenario.metric is not None:
        return [{"type": "python", "value": _raw(standalone_check(scenario.metric))}]
    criteria = "\n".join(f"- {c.name}: {c.description.strip()}" for c in scenario.criteria)
    rubric = (f"The output is a reply to the input below, and does this task: {scenario.task.strip()}\n"
              f"It meets every criterion:\n{criteria}\n\nThe input:\n")
    return [{"type": "llm-rubric", "value": _raw(rubric) + INPUT}]


# The reply promptfoo's llm-rubric parses, as a JSON schema llama.cpp can hold a model to.
_GRADE_FORMAT = {"type": "json_schema", "json_schema": {"name": "grade", "strict": True, "schema": {
    "type": "object", "additionalProperties": False, "required": ["reason", "pass", "score"],
    "properties": {"reason": {"type": "string", "maxLength": 300}, "pass": {"type": "boolean"},
                   "score": {"type": "number", "minimum": 0, "maximum": 1}}}}}

def _chat_json(messages: list[dict[str, str]]) -> str:
    """The messages as the JSON chat prompt promptfoo takes, {{input}} where the input goes and nothing else
    read as a template (a prompt's own braces are kept as they are)."""
    out = []
    for m in messages:
        parts = [_raw(p) for p in m["content"].split(_SLOT)]
        out.append({**m, "content": INPUT.join(parts)})
    return json.dumps(out, ensure_ascii=False, indent=1)


# A tag nunjucks reads inside a raw block: raw/endraw (it counts their nesting) and verbatim/endverbatim, with any
# spaces, whitespace control or case; such a tag written by the model must never close (or reopen) the block.
_RAW_TAG = re.compile(r"\{%(?=[\s-]*(?:end)?(?:raw|verbatim))", re.I)
_RAW_TAG_START = "{% endraw %}{{ '{%' }}{% raw %}"  # the tag's "{%" as a literal, outside the raw block


def _raw(text: str) -> str:
    """Text that promptfoo's nunjucks renders as it is: inside a raw block, with each "{%" that could start a
    raw/endraw tag printed as a string literal between two raw blocks, so no tag in the text can end the block
    early and run what follows (e.g. `{{ env.OPENAI_API_KEY }}`). Text that ends with "{" is wrapped too, so it
    cannot join the "{{" of a variable after it."""
    if not any(t in text for t in ("{{", "{%", "{#")) and not text.endswith("{"):
        return text
    return "{% raw %}" + _RAW_TAG.sub(lambda m: _RAW_TAG_START, text) + "{% endraw %}"


def _provider(endpoint: ModelUse, model: str, temperature: float, max_tokens: int) -> dict[str, Any]:
    """A promptfoo provider for a model as the run recorded it: its address as apiBaseUrl (apiHost on Azure), its
    key read by promptfoo from the variable the run read it from (apiKeyEnvar). No `{{ env.X }}` template: promptfoo
    sends one literally when X is unset."""
    settings = {"temperature": temperature, "max_tokens": max_tokens}
    kind, base, var = endpoint.api_type, endpoint.base_url, endpoint.api_key_env
    key = {"apiKeyEnvar": var} if var else {}
    if kind == "azure":  # without apiKeyEnvar promptfoo reads AZURE_API_KEY or AZURE_OPENAI_API_KEY
        return {"id": f"azure:chat:{model}", "config": {"apiHost": urlparse(base or "").netloc, **key, **settings}}
    if kind == "embedded":
        return {"id": f"openai:chat:{model}", "config": {"apiBaseUrl": LOCAL_SERVER, "apiKeyRequired": False, **settings}}
    config: dict[str, Any] = {"apiBaseUrl": base} if base else {}
    if base and not var:  # the run read no key variable: a local server that takes none, or a key written inline
        config["apiKeyRequired"] = False  # promptfoo then sends OPENAI_API_KEY when it is set, and no key otherwise
    return {"id": f"openai:chat:{model}", "config": {**config, **key, **settings}}


def _what_to_set(endpoint: ModelUse, who: str) -> str:
    """One line: what to set (or start) for promptfoo to reach this model; never a key."""
    var, kind = endpoint.api_key_env, endpoint.api_type
    if kind == "embedded":
        return (f"{who} used redraft's embedded model ({endpoint.gguf or 'a GGUF file'}): serve it at {LOCAL_SERVER} "
                "with llama.cpp's `llama-server -m FILE --port 8080` (or edit apiBaseUrl); it needs no key.")
    where = endpoint.base_url or ("the Azure endpoint" if kind == "azure" else "api.openai.com")
    if var:
        return f"Set {var} to the key for {where}: {who.lower()} read it from {var} (no key is written here)."
    if kind == "azure" or not endpoint.base_url:
        default = "AZURE_OPENAI_API_KEY" if kind == "azure" else "OPENAI_API_KEY"
        return f"Set {default} to the key for {where} (no key is written here)."
    return (f"{who} read no key variable for {where}: set OPENAI_API_KEY if that server needs a key "
            "(none is sent otherwise).")


class _Dumper(yaml.SafeDumper):
    """Block style for text with line breaks, so the prompt and the Python check read as written."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


# --- Python ---------------------------------------------------------------------------------------


_SETTING = '''

def setting(name: str, what: str) -> str:
    """An environment variable's value; a plain message, not a traceback, when it is not set."""
    if not os.environ.get(name):
        sys.exit(f"set {name} to {what}")
    return os.environ[name]
'''


def python_snippet(past: RunRecord, request: ExecutorRequest) -> str:
    """A short script that sends the final prompt as the run's executor did, with the openai client."""
    client, needs = _python_client(request.endpoint)
    listed = ",\n".join(f'    {{"role": {m["role"]!r}, "content": {_literal(m["content"].replace(_SLOT, INPUT))}}}'
                         for m in request.messages)
    about = textwrap.fill(f"The prompt redraft chose in run {past.run.path.name} (round {request.round}, scenario "
                          f"{past.summary.scenario}), sent as the run's executor sent it. Needs `pip install openai` "
                          f"and, in the environment, {needs}.", 100, break_long_words=False, break_on_hyphens=False)
    return f'''"""{about}

    python this.py "an input"       (or pipe the input in)
"""

import os
import sys

from openai import {"AzureOpenAI" if request.endpoint.api_type == "azure" else "OpenAI"}

MODEL = {request.model!r}
INPUT = {INPUT!r}  # where the input goes in the messages below
# the system message, the prompt's worked examples as turns (if any), then the input
MESSAGES = [
{listed},
]

{_SETTING}

def run(text: str) -> str:
    """The model's reply to one input."""
    client = {client}
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[{{**m, "content": m["content"].replace(INPUT, text)}} for m in MESSAGES],
        temperature={request.temperature!r},
        max_tokens={request.max_tokens!r},
    )
    return reply.choices[0].message.content or ""


if __name__ == "__main__":
    # an input piped in loses the newline that ends it, as an argument has none
    print(run(sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read().removesuffix("\\n")))
'''


def _python_client(endpoint: ModelUse) -> tuple[str, str]:
    """The openai client the script makes for the run's endpoint, its key read from the variable the run read it
    from; and what the script needs in the environment."""
    kind, base, var = endpoint.api_type, endpoint.base_url, endpoint.api_key_env
    where = base or "api.openai.com"
    if kind == "azure":
        var = var or "AZURE_OPENAI_API_KEY"
        return (f"AzureOpenAI(azure_endpoint={base!r},\n"
                '                         api_version=setting("OPENAI_API_VERSION", "the Azure API version"),\n'
                f"                         api_key=setting({var!r}, {f'the API key for {base}'!r}))",
                f"{var} and OPENAI_API_VERSION")
    if kind == "embedded":
        server = "an OpenAI-compatible server's address, e.g. " + LOCAL_SERVER
        return (f'OpenAI(base_url=setting("OPENAI_BASE_URL", {server!r}), api_key="not-needed")',
                f"OPENAI_BASE_URL, where an OpenAI-compatible server serves {endpoint.gguf or 'the GGUF file'} "
                f"(e.g. llama.cpp's `llama-server -m FILE --port 8080`: {LOCAL_SERVER})")
    url = f"base_url=os.environ.get('OPENAI_BASE_URL', {base!r}), " if base else ""
    if var or not base:
        var = var or "OPENAI_API_KEY"
        return f"OpenAI({url}api_key=setting({var!r}, {f'the API key for {where}'!r}))", f"{var} (the key for {where})"
    # The run read no key variable for this server: a local one that takes none, or a key written inline.
    return (f'OpenAI({url}api_key=os.environ.get("OPENAI_API_KEY", "not-needed"))',
            f"OPENAI_API_KEY if the server at {where} needs a key")


def _literal(text: str) -> str:
    """A Python string literal for text: triple-quoted when it spans lines and that keeps it as written, else repr."""
    plain = all(ch.isprintable() or ch in "\n\t" for ch in text)
    if "\n" in text and plain and "\\" not in text and '"""' not in text and not text.endswith('"'):
        return '"""' + text + '"""'
    return repr(text)

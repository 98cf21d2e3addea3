"""Exact scoring of a model output against a labeled target: exact, label, contains, regex, numeric, python."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
import re
import sys
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import ConfigError, Terminated


class MetricSpec(BaseModel):
    """How to score outputs against targets; appears in a scenario as `metric:`."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["exact", "label", "contains", "regex", "numeric", "python"]
    labels: list[str] | None = None
    pattern: str | None = None
    tolerance: float = Field(default=1e-6, ge=0)
    relative_tolerance: float = Field(default=0.0, ge=0)
    function: str | None = None
    case_sensitive: bool = False

    @model_validator(mode="after")
    def _fits_type(self) -> "MetricSpec":
        # A key that the chosen type ignores is almost always a typo in `type`; say so instead of ignoring it.
        for key, owner in (("labels", "label"), ("pattern", "regex"), ("function", "python")):
            if getattr(self, key) is not None and self.type != owner:
                raise ValueError(f"'{key}' only applies to type '{owner}', but type is '{self.type}'")
        if self.type == "label":
            if not self.labels:
                raise ValueError("type 'label' needs 'labels': the list of allowed labels, e.g. [positive, negative]")
            seen: dict[str, str] = {}
            for label in self.labels:
                key = normalize(label, case_sensitive=self.case_sensitive)
                if not key:
                    raise ValueError(f"label {label!r} is empty once punctuation and spaces are removed")
                if key in seen:
                    raise ValueError(f"labels {seen[key]!r} and {label!r} are the same once normalized")
                seen[key] = label
        if self.type == "regex":
            if not self.pattern:
                raise ValueError("type 'regex' needs 'pattern': a regular expression the output must match")
            try:
                re.compile(self.pattern, 0 if self.case_sensitive else re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"'pattern' is not a valid regular expression: {exc}") from None
        if self.type == "python":
            module, _, name = (self.function or "").rpartition(":")
            if not module or not name.isidentifier():
                raise ValueError(
                    "type 'python' needs 'function' as 'module:function' or 'file.py:function', "
                    f"got {self.function!r}"
                )
        return self


class MetricResult(BaseModel):
    """The score of one output, with what was extracted from it and optional feedback."""

    model_config = ConfigDict(extra="forbid")

    score: float = Field(ge=0.0, le=1.0)
    extracted: str | None = None
    feedback: str | None = None
    error: str | None = None  # a python metric that raised or returned no score from 0 to 1 (the score is then 0)


@runtime_checkable
class Metric(Protocol):
    """Scores one output against its target."""

    name: str

    def __call__(self, output: str, target: str) -> MetricResult: ...


# Apostrophes vanish rather than split words, so "isn't" becomes "isnt" and stays one token.
_APOSTROPHES = frozenset("'\u2019\u02bc\u2018`")
# Clause ends (for negation scope only): sentence punctuation followed by a space, or a line break.
_CLAUSE_END = re.compile(r"[.,;!?\u3002]+(?=\s|$)|\n")


def normalize(text: str, *, case_sensitive: bool = False) -> str:
    """Unicode NFKC, casefold, punctuation removed (any script), whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text)
    if not case_sensitive:
        text = text.casefold()
    chars = []
    for ch in text:
        if ch in _APOSTROPHES:
            continue
        cat = unicodedata.category(ch)
        chars.append(" " if cat[0] == "P" or cat == "Sk" else ch)
    return " ".join("".join(chars).split())


def _phrase_regex(phrases: list[str]) -> str:
    # Longest first, so at any position "not negative" wins over "negative" and "yes and no" over "yes".
    alts = "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
    return rf"(?<!\S)({alts})(?!\S)"


# An explicit answer marker ("Answer: x", "the final answer is x", "Sentiment: x") right before a label.
_MARKERS = (
    r"(?i:(?:answer|label|sentiment|classification|class|category|verdict|prediction)"
    r"(?:\s+(?:is|would be|will be|should be|was))?)"
)
_NEGATIONS = frozenset(
    "not no never isnt wasnt arent werent dont doesnt didnt cannot cant wont neither nor hardly without".split()
)
_CONTRAST = frozenset("but rather instead however yet although though".split())


def _negated(before: str) -> bool:
    """Whether the few words right before a mention negate it ("not", "isn't", "not very")."""
    for word in reversed(before.split()[-3:]):
        word = word.casefold()
        if word in _CONTRAST:
            return False
        if word in _NEGATIONS:
            return True
    return False


def extract_label(output: str, labels: list[str], *, case_sensitive: bool = False) -> str | None:
    """The label an answer commits to: whole answer, else the last answer marker, else the last plain mention."""
    by_key = {normalize(label, case_sensitive=case_sensitive): label for label in labels}
    by_key.pop("", None)
    if not by_key:
        return None
    text = normalize(output, case_sensitive=case_sensitive)
    if text in by_key:
        return by_key[text]
    phrase = _phrase_regex(list(by_key))
    marked = list(re.finditer(rf"(?<!\S){_MARKERS}\s+{phrase}", text))
    if marked:
        return by_key[marked[-1].group(1)]
    found = None
    for clause in _CLAUSE_END.split(unicodedata.normalize("NFKC", output)):
        clause = normalize(clause, case_sensitive=case_sensitive)
        start = 0
        for m in re.finditer(phrase, clause):
            if not _negated(clause[start : m.start()]):
                found = by_key[m.group(1)]
            start = m.end()
    return found


_NUMBER = re.compile(
    r"""
    (?<![\w.])(?P<sign>[-+])?[$€£¥₹]?\s?
    (?P<num>\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)? | \d+(?:\.\d+)?(?:[eE][-+]?\d+)? | \.\d+)
    (?:\s?/\s?(?P<den>\d+(?:\.\d+)?))?
    """,
    re.VERBOSE,
)
_NUMBER_MARKER = re.compile(r"(?i)\banswer\b\s*(?:is\b)?\s*[:=]?[\s*_]*")


def _number_value(m: re.Match[str]) -> float | None:
    value = float(m["num"].replace(",", ""))
    if m["den"] is not None:
        den = float(m["den"])
        if den == 0:
            return None
        value /= den
    return -value if m["sign"] == "-" else value


def extract_number(output: str) -> float | None:
    """The answer's number: after the last '####', else right after the last 'answer is', else the final one."""
    text = unicodedata.normalize("NFKC", output).replace("\u2212", "-")
    if "####" in text:
        tail = text.rsplit("####", 1)[1]
        for m in _NUMBER.finditer(tail):
            if (value := _number_value(m)) is not None:
                return value
    for marker in reversed(list(_NUMBER_MARKER.finditer(text))):
        m = _NUMBER.match(text, marker.end())
        if m and (value := _number_value(m)) is not None:
            return value
    values = [v for m in _NUMBER.finditer(text) if (v := _number_value(m)) is not None]
    return values[-1] if values else None


def _same(a: str, b: str, case_sensitive: bool) -> bool:
    return normalize(a, case_sensitive=case_sensitive) == normalize(b, case_sensitive=case_sensitive)


def _show(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


@dataclass
class ExactMatch:
    """Score 1 when output and target are equal once normalized."""

    case_sensitive: bool = False
    name: str = "exact"

    def __call__(self, output: str, target: str) -> MetricResult:
        return MetricResult(score=float(_same(output, target, self.case_sensitive)))


@dataclass
class LabelMatch:
    """Score 1 when the label the output commits to is the target."""

    labels: list[str]
    case_sensitive: bool = False
    name: str = "label"

    def __call__(self, output: str, target: str) -> MetricResult:
        label = extract_label(output, self.labels, case_sensitive=self.case_sensitive)
        hit = label is not None and _same(label, target, self.case_sensitive)
        return MetricResult(score=float(hit), extracted=label)


@dataclass
class ContainsMatch:
    """Score 1 when the target appears in the output as whole words."""

    case_sensitive: bool = False
    name: str = "contains"

    def __call__(self, output: str, target: str) -> MetricResult:
        want = normalize(target, case_sensitive=self.case_sensitive)
        if not want:
            return MetricResult(score=0.0, feedback="the target is empty")
        hit = re.search(_phrase_regex([want]), normalize(output, case_sensitive=self.case_sensitive))
        return MetricResult(score=float(bool(hit)), extracted=hit.group(1) if hit else None)


@dataclass
class RegexMatch:
    """Score the first match: its group 1 against the target, or 1 for any match when there is no group."""

    pattern: re.Pattern[str]
    case_sensitive: bool = False
    name: str = "regex"

    def __call__(self, output: str, target: str) -> MetricResult:
        m = self.pattern.search(unicodedata.normalize("NFKC", output))
        if m is None:
            return MetricResult(score=0.0)
        if self.pattern.groups == 0:
            return MetricResult(score=1.0, extracted=m.group(0))
        got = m.group(1)
        if got is None:
            return MetricResult(score=0.0)
        return MetricResult(score=float(_same(got, target, self.case_sensitive)), extracted=got)


@dataclass
class NumericMatch:
    """Score 1 when the output's answer number is within tolerance of the target's."""

    tolerance: float = 1e-6
    relative_tolerance: float = 0.0
    name: str = "numeric"

    def __call__(self, output: str, target: str) -> MetricResult:
        want = extract_number(target)
        if want is None:
            return MetricResult(score=0.0, feedback=f"the target {target!r} has no number")
        got = extract_number(output)
        if got is None:
            return MetricResult(score=0.0)
        gap = abs(got - want)
        hit = gap <= self.tolerance or gap <= self.relative_tolerance * abs(want)
        return MetricResult(score=float(hit), extracted=_show(got))


@dataclass
class PythonMetric:
    """A user's fn(output, target) returning a score, (score, feedback) or {"score", "feedback"}."""

    fn: Callable[[str, str], Any]
    name: str = "python"

    def __call__(self, output: str, target: str) -> MetricResult:
        # The user's code must never crash a run: anything it does wrong scores 0 and says why, and the run
        # shows it (and stops when it fails on every example: see RoundRecord.metric_failure).
        # sys.exit() and a KeyboardInterrupt raised by the user's own code are metric errors too; a real
        # Ctrl-C or SIGTERM arrives as a signal the event loop handles (Terminated is raised by redraft's
        # own SIGTERM handler, so it still goes through).
        try:
            return _as_result(self.fn(output, target))
        except Terminated:
            raise
        except (Exception, SystemExit, KeyboardInterrupt) as exc:
            return _metric_error(exc)


def _metric_error(exc: BaseException) -> MetricResult:
    if isinstance(exc, SystemExit):
        error = f"SystemExit: the metric called sys.exit({exc.code!r})"
    elif isinstance(exc, KeyboardInterrupt):
        error = "KeyboardInterrupt: raised by the metric itself" + (f" ({exc})" if str(exc) else "")
    else:
        error = f"{type(exc).__name__}: {exc}"
    return MetricResult(score=0.0, feedback=f"metric error: {error}", error=error)


def _as_result(value: Any) -> MetricResult:
    feedback = None
    if isinstance(value, MetricResult):
        return value
    if isinstance(value, dict):
        if "score" not in value:
            raise ValueError(f"returned a dict without 'score': {sorted(value)}")
        value, feedback = value["score"], value.get("feedback")
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        value, feedback = value
    if not isinstance(value, (bool, int, float)):
        raise TypeError(f"expected a number, (score, feedback) or a dict with 'score', got {type(value).__name__}")
    score = float(value)
    if math.isnan(score) or not 0.0 <= score <= 1.0:
        raise ValueError(f"score {score} is outside 0..1")
    return MetricResult(score=score, feedback=None if feedback is None else str(feedback))


def _load_function(ref: str, base_dir: Path | None, file: str | None) -> Callable[[str, str], Any]:
    module_ref, _, name = ref.rpartition(":")

    def problem(message: str) -> ConfigError:
        return ConfigError(file, message, key="metric.function")

    if module_ref.endswith(".py") or "/" in module_ref or "\\" in module_ref:
        path = Path(module_ref)
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        if not path.is_file():
            raise problem(f"file not found: {path}; expected a .py file relative to the scenario folder")
        # A fresh, unique module name so two scenarios' checks.py never shadow each other.
        mod_name = f"redraft_metric_{path.stem}_{uuid.uuid4().hex[:8]}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise problem(f"cannot load {path} as Python; expected a .py file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        # No __pycache__ beside the user's scenario: redraft writes nothing outside its own folders.
        bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[mod_name]
            raise problem(f"importing {path} failed: {type(exc).__name__}: {exc}") from None
        finally:
            sys.dont_write_bytecode = bytecode
    else:
        try:
            module = importlib.import_module(module_ref)
        except ImportError as exc:
            raise problem(
                f"cannot import module '{module_ref}' ({exc}); expected an importable module "
                "or a .py path relative to the scenario folder, like 'checks.py:score'"
            ) from None
        except Exception as exc:
            raise problem(f"importing '{module_ref}' failed: {type(exc).__name__}: {exc}") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        what = "no function" if fn is None else "a non-callable"
        raise problem(f"'{module_ref}' has {what} '{name}'; expected a function fn(output, target)")
    try:
        inspect.signature(fn).bind("output", "target")
    except TypeError:
        raise problem(f"'{ref}' takes {inspect.signature(fn)}; expected a function fn(output, target)") from None
    except ValueError:
        pass  # no signature to read (some builtins): calling it will tell
    return fn


def build_metric(spec: MetricSpec, *, base_dir: Path | None = None, file: str | None = None) -> Metric:
    """The metric a spec describes; python functions load relative to base_dir, errors name `file`."""
    cs = spec.case_sensitive
    if spec.type == "exact":
        return ExactMatch(case_sensitive=cs)
    if spec.type == "label":
        return LabelMatch(labels=list(spec.labels or []), case_sensitive=cs)
    if spec.type == "contains":
        return ContainsMatch(case_sensitive=cs)
    if spec.type == "regex":
        return RegexMatch(pattern=re.compile(spec.pattern or "", 0 if cs else re.IGNORECASE), case_sensitive=cs)
    if spec.type == "numeric":
        return NumericMatch(tolerance=spec.tolerance, relative_tolerance=spec.relative_tolerance)
    ref = spec.function or ""
    return PythonMetric(fn=_load_function(ref, base_dir, file), name=f"python:{ref}")

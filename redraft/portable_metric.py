"""A labeled scenario's metric as standalone Python, for promptfoo's `python` assertion: redraft's own scoring
code, copied out of redraft.config.metrics with nothing to install, so a test passes exactly when redraft
scores the output 1. A metric that is the user's own function cannot travel this way: its assertion loads
the function from where promptfoo runs and, when it cannot, fails saying what to copy or install."""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
from typing import Any

from .config import metrics as _metrics
from .config.metrics import MetricSpec, build_metric

# Python's version the copied code needs (it evaluates `str | None` annotations).
NEEDS_PYTHON = "3.10"

_IMPORTS = """\
import re
import unicodedata
from dataclasses import dataclass
"""
_USER_IMPORTS = """\
import importlib
import importlib.util
import math
import sys
from pathlib import Path
from typing import Any, Callable
"""

# Stand-ins for the names the copied code takes from outside the scoring code: redraft's result without pydantic
# (the metrics only build it and read its fields), and redraft's own SIGTERM, never raised here.
_RESULT = '''\
class MetricResult:
    """redraft's MetricResult, without pydantic."""

    def __init__(self, score, extracted=None, feedback=None, error=None):
        self.score, self.extracted, self.feedback, self.error = score, extracted, feedback, error
'''
_TERMINATED = '''\
class Terminated(KeyboardInterrupt):
    """redraft's SIGTERM; never raised here."""
'''

_VERDICT = """\
r = metric(output, str(context["vars"]["expected"]))
why = r.feedback or (f"read as {r.extracted!r}" if r.extracted is not None else "no answer found in the output")
return {"pass": r.score >= 1, "score": r.score, "reason": why}
"""

# The user's metric function, loaded from where promptfoo runs: a .py file there, or an importable module.
_LOAD_FUNCTION = """\
ref, name = REF, NAME
try:
    if ref.endswith(".py") or "/" in ref or "\\\\" in ref:
        sys.path.insert(0, str(Path(ref).resolve().parent))  # the file's own imports, as redraft finds them
        spec = importlib.util.spec_from_file_location("redraft_user_metric", ref)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(ref)
    fn = getattr(module, name)
except (Exception, SystemExit) as exc:
    return {"pass": False, "score": 0, "reason": f"cannot load the run's metric {ref}:{name} "
            f"({type(exc).__name__}: {exc}); HOWTO"}
metric = PythonMetric(fn=fn)
"""

_OUTSIDE = {"MetricResult", "Terminated"}  # given by _STAND_INS, never copied
_CONSTANT = (str, frozenset, re.Pattern)


def standalone_check(spec: MetricSpec) -> str:
    """The body of a promptfoo python assertion (a function of `output` and `context`) that scores the output
    against context["vars"]["expected"] as redraft's metric does, with the standard library only."""
    about = (f"# redraft's {spec.type} metric, its code copied from redraft/config/metrics.py:\n"
             "# the test passes when redraft scores the output 1.\n")
    if spec.type == "python":
        module, _, name = (spec.function or "").rpartition(":")
        where = ("copy it into the folder you run promptfoo in" if _is_file(module) else
                 "install the package that provides it for the Python promptfoo runs (python3, or PROMPTFOO_PYTHON)")
        setup = _LOAD_FUNCTION.replace("REF, NAME", f"{module!r}, {name!r}").replace("HOWTO", where)
        parts = [about + _IMPORTS + _USER_IMPORTS, _RESULT, _TERMINATED, *_copied("PythonMetric")]
    else:
        metric = build_metric(spec)
        setup = f"metric = {type(metric).__name__}({_arguments(metric)})\n"
        parts = [about + _IMPORTS, _RESULT, *_copied(type(metric).__name__)]
    return "\n\n".join([*parts, setup + _VERDICT])


def check_note(spec: MetricSpec) -> str:
    """What a promptfoo user needs to know about the assertion standalone_check writes."""
    python = f"promptfoo runs it with python3 ({NEEDS_PYTHON} or newer; or set PROMPTFOO_PYTHON)"
    if spec.type != "python":
        return (f"Each test scores the output with the run's metric ({spec.type}) as inline Python: redraft's own "
                f"scoring code, standard library only, so a test passes exactly when redraft scores the output 1; "
                f"{python}.")
    module, _, name = (spec.function or "").rpartition(":")
    need = (f"copy {module} (from the scenario's folder) into the folder you run promptfoo in" if _is_file(module)
            else f"install what provides the module {module} for that Python")
    return (f"The run's metric is your own Python function {module}:{name}, which this file cannot carry: each "
            f"test loads it, so {need}; {python}. Until then every test fails, saying so.")


def _is_file(module: str) -> bool:
    return module.endswith(".py") or "/" in module or "\\" in module


def _copied(start: str) -> list[str]:
    """The definitions `start` needs from redraft.config.metrics, as source: constants, then the rest in the
    module's order (so a reader meets them as in redraft)."""
    pool = {n: v for n, v in vars(_metrics).items() if n not in _OUTSIDE and not n.startswith("__") and _portable(v)}
    needed, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo += [w for w in re.findall(r"\w+", _definition(name, pool[name])) if w in pool]
    text = inspect.getsource(_metrics)
    order = sorted(needed, key=lambda n: (not isinstance(pool[n], _CONSTANT), text.find(f"\n{n} =") if
                                          isinstance(pool[n], _CONSTANT) else inspect.getsourcelines(pool[n])[1]))
    return [_definition(n, pool[n]) for n in order]


def _portable(value: Any) -> bool:
    """A name the standalone code may copy: the module's own functions and dataclasses, and its constants."""
    if inspect.isfunction(value) or (inspect.isclass(value) and dataclasses.is_dataclass(value)):
        return value.__module__ == _metrics.__name__
    return isinstance(value, _CONSTANT)


def _definition(name: str, value: Any) -> str:
    if isinstance(value, _CONSTANT):
        return f"{name} = {_literal(value)}"
    return inspect.getsource(value).rstrip()


def _literal(value: Any) -> str:
    """Python source that makes `value` again: a pattern with its flags, a set in a fixed order."""
    if isinstance(value, re.Pattern):
        flags = [f"re.{f.name}" for f in (re.I, re.M, re.S, re.X, re.A) if value.flags & f]
        return f"re.compile({value.pattern!r}{', ' + '|'.join(flags) if flags else ''})"
    if isinstance(value, frozenset):
        return f"frozenset({sorted(value)!r})"
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(value)


def _arguments(metric: Any) -> str:
    """The arguments that rebuild this metric instance, from its dataclass fields."""
    return ", ".join(f"{f.name}={_literal(getattr(metric, f.name))}" for f in dataclasses.fields(metric))

"""redraft: AI agents hold a group chat to refine a prompt, turn by turn, and measure whether it paid off.

The layers, from the bottom up, each importing only those before it: config (what the user writes), eval
(pure scoring), records (the typed values a run keeps), llm (every model call) and store (the run folder),
search (the candidate search), report (pages people read) and chat (AgentChat: seats, team, runner,
reviewer); then api, compare, export, past_run (a run folder for Python: `load_run`), console and cli, the
commands."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import Hooks, RunOptions, RunOutcome, resume_run, run_scenario, validate_scenario
    from .compare import CompareOptions, CompareResult, compare_scenario
    from .errors import ConfigError, EmbeddedModelError, EndpointError, RedraftError
    from .past_run import PastRun, load_run

# Imported on first use: `redraft` itself loads in milliseconds, so the CLI handles Ctrl-C from its first moment.
_EXPORTS = {
    "CompareOptions": ".compare",
    "CompareResult": ".compare",
    "compare_scenario": ".compare",
    "ConfigError": ".errors",
    "EmbeddedModelError": ".errors",
    "EndpointError": ".errors",
    "RedraftError": ".errors",
    "Hooks": ".api",
    "RunOptions": ".api",
    "RunOutcome": ".api",
    "resume_run": ".api",
    "run_scenario": ".api",
    "validate_scenario": ".api",
    "PastRun": ".past_run",
    "load_run": ".past_run",
}
__all__ = list(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'redraft' has no attribute '{name}'")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])

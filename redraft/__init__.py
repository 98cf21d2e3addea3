"""redraft: AI agents hold a group chat to refine a prompt, turn by turn, and measure whether it paid off."""

from .api import Hooks, RunOptions, RunOutcome, resume_run, run_scenario, validate_scenario
from .compare import CompareOptions, CompareResult, compare_scenario
from .errors import ConfigError, EmbeddedModelError, EndpointError, RedraftError

__all__ = [
    "CompareOptions",
    "CompareResult",
    "compare_scenario",
    "ConfigError",
    "EmbeddedModelError",
    "EndpointError",
    "RedraftError",
    "Hooks",
    "RunOptions",
    "RunOutcome",
    "resume_run",
    "run_scenario",
    "validate_scenario",
]
__version__ = "0.1.0"

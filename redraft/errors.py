"""The one family of errors redraft raises for problems a user can fix."""

from __future__ import annotations


class RedraftError(Exception):
    """A problem the user can fix; the CLI prints its message without a traceback."""


class ConfigError(RedraftError):
    """A configuration file (scenario, agent card, model list) is wrong.

    The message names the file, the key path (and line when known) and what was expected.
    """

    def __init__(self, file: str | None, message: str, *, key: str | None = None, line: int | None = None):
        self.file = file
        self.key = key
        self.line = line
        self.detail = message
        where = file or "<config>"
        if line is not None:
            where += f":{line}"
        text = f"{where}: {key}: {message}" if key else f"{where}: {message}"
        super().__init__(text)


class EndpointError(RedraftError):
    """A model endpoint could not be reached or kept failing."""


class EmbeddedModelError(RedraftError):
    """The embedded llama.cpp model could not be found or started."""


class BudgetExceeded(RedraftError):
    """A hard budget cap (calls, tokens, dollars) was reached; the run stops cleanly with its state saved."""


class RunInterrupted(RedraftError):
    """The user pressed Ctrl-C (or the process got SIGTERM); the run is saved and can be resumed."""

    exit_code = 130

    def __init__(self, message: str, *, by: str = "Ctrl-C"):
        super().__init__(message)
        self.exit_code = EXIT_CODES.get(by, 130)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Python raises KeyboardInterrupt for Ctrl-C, so that both stop a run the same way."""


EXIT_CODES = {"Ctrl-C": 130, "SIGTERM": 143}  # 128 + the signal's number, as a shell reports it

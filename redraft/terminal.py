"""Printing text redraft did not write (a model's, a file's, a server's) without letting it drive the terminal:
control characters shown, secrets masked, a closed pipe ignored, and NO_COLOR honoured."""

from __future__ import annotations

import os
import shutil
import sys
from typing import TextIO

from .secrets import scrub

# Control characters in text redraft did not write (models, files, servers) are shown, never obeyed: C0 controls
# other than newline and tab, and DEL, in caret notation (ESC is ^[, DEL ^?), C1 controls as M-^ plus the same
# (CSI, 0x9b, is M-^[), as `cat -v` shows them. A lone carriage return (which would overwrite a line) is ^M.
_VISIBLE = {c: "^" + chr(c + 64) for c in range(32) if chr(c) not in "\n\t"}
_VISIBLE[127] = "^?"
_VISIBLE.update({c: "M-^" + chr(c - 128 + 64) for c in range(128, 160)})


def visible(text: str) -> str:
    """Untrusted text made harmless to print: every control character but newline and tab shown, not obeyed."""
    return str(text).replace("\r\n", "\n").translate(_VISIBLE)


def no_color() -> bool:
    """Whether the user asked for no colour or style escapes (https://no-color.org: NO_COLOR set and not empty)."""
    return bool(os.environ.get("NO_COLOR"))


def terminal_width(stream: TextIO) -> int:
    """The columns of the terminal `stream` writes to: $COLUMNS when set (as shutil reads it), else that terminal's
    own width (stderr's may differ from stdout's, which shutil asks), else 80."""
    fallback = shutil.get_terminal_size().columns  # $COLUMNS, else stdout's terminal, else 80
    if os.environ.get("COLUMNS"):
        return fallback
    try:
        return os.get_terminal_size(stream.fileno()).columns or fallback
    except (AttributeError, OSError, ValueError):  # not a terminal, or not a real file (a test's capture)
        return fallback


def write(stream: TextIO, text: str) -> bool:
    """Write text redraft composed (already made visible) and flush; False once the reader has gone.

    A closed pipe (`redraft run ... | head`) is not an error: the stream is pointed at os.devnull, so later
    writes, and the flush when Python exits, go nowhere, and the command goes on to its end (a run still
    writes its summary.json and report.html)."""
    if getattr(stream, "_redraft_closed", False):
        return False
    try:
        stream.write(text)
        stream.flush()
        return True
    except BrokenPipeError:
        _to_devnull(stream)
        return False


def _to_devnull(stream: TextIO) -> None:
    """Python's recipe for a closed pipe (docs: signal, "Note on SIGPIPE"): point the stream's file at devnull."""
    try:
        stream._redraft_closed = True  # type: ignore[attr-defined]
    except AttributeError:
        pass
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (a test's capture): nothing more to do
        pass


def say(text: str = "", *, file: TextIO | None = None, end: str = "\n") -> bool:
    """Print text from outside redraft (a model's, a file's, a server's) safely: secrets masked, control
    characters shown, a closed pipe ignored. Every print of untrusted text goes through here."""
    return write(file or sys.stdout, visible(scrub(str(text))) + end)

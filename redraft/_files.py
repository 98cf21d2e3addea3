"""Small file helpers shared by the run folder and the cache."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, text: str) -> None:
    """Write a file so that a crash leaves the old or the new version, never half of one."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_file_atomic(path: Path, text: str, *, replace: bool) -> None:
    """Write a user's file (export --out) so that nothing but the finished text ever takes its name.

    The text goes to a new temp file beside it (O_EXCL: never opened through a link or over another file),
    is flushed to disk, then takes the name in one step: a full disk or a crash leaves the old file whole,
    and a link at path is itself replaced, its target untouched. With replace=False the name is taken only if
    it is still free (os.link fails on an existing name, so no file that appeared meanwhile is lost).
    The temp file never outlives a failure. Raises FileExistsError, or the OSError of the failed step."""
    tmp = _new_temp(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
        try:
            data = memoryview(text.encode("utf-8"))
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
            _keep_mode(fd, path)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def _new_temp(path: Path) -> Path:
    """A temp name beside path that nothing holds yet (hidden, so a listing mid-write does not show it)."""
    import secrets

    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _link_new(tmp: Path, path: Path) -> None:
    """Give tmp the name path only if no file holds it: a hard link, which refuses an existing name in one step.
    On a file system without hard links, a check just before the rename instead."""
    try:
        os.link(tmp, path, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError:
        if os.path.lexists(path):
            raise FileExistsError(path) from None
        os.replace(tmp, path)


def _keep_mode(fd: int, path: Path) -> None:
    """A replaced file keeps its permission bits (a file a user made private stays private)."""
    import stat

    try:
        old = os.stat(path, follow_symlinks=False)
    except OSError:
        return
    if stat.S_ISREG(old.st_mode) and hasattr(os, "fchmod"):  # not on Windows before Python 3.13
        os.fchmod(fd, stat.S_IMODE(old.st_mode))

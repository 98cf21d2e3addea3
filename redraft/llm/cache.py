"""A content-addressed on-disk cache of model calls: the same model, messages, parameters and seed
give the same reply without a network call, so a finished run can be replayed exactly."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from .._files import write_atomic
from ..errors import ConfigError
from ..secrets import scrub_data


def default_cache_dir() -> Path:
    """$REDRAFT_CACHE_DIR, else $XDG_CACHE_HOME/redraft/calls, else ~/.cache/redraft/calls."""
    env = os.environ.get("REDRAFT_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "redraft" / "calls"


STALE_TMP_SECONDS = 3600  # a temp file this old is no live write's: write_atomic replaces its own at once
_swept: set[Path] = set()  # cache folders swept in this process (compare opens one caller per arm and repeat)


def check_writable(folder: Path, name: str, hint: str = "") -> None:
    """Refuse, before anything else is made, a cache folder that cannot be created or written (read-only, full,
    not ours): otherwise the run folder would be made first and the first cached reply would fail mid-run.
    Writes and deletes a small probe file; folders it had to make are removed again when the probe fails."""
    made = [p for p in (folder, *folder.parents) if not p.exists()]
    probe = folder / f".probe.{os.getpid()}.{secrets.token_hex(4)}.tmp"  # *.tmp: a crash's leftover is swept too
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_probe(probe)
        probe.unlink()
    except OSError as exc:
        _undo(probe, made)
        raise ConfigError(name, f"cannot write there ({exc.strerror or exc}){hint}") from None


def _write_probe(probe: Path) -> None:
    """A new small file at probe, flushed to disk: a full disk may only say so when the data must reach it."""
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, b"redraft cache probe\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def _undo(probe: Path, made: list[Path]) -> None:
    """Take back what a failed probe left: the probe file, then the folders it made, deepest first."""
    for path in (probe, *made):
        try:
            path.unlink() if path == probe else path.rmdir()
        except OSError:
            pass


def sweep_stale_tmp(root: Path, older_than: float = STALE_TMP_SECONDS) -> int:
    """Remove the *.tmp files a write left when it failed (a full disk, a kill) and that are older than an hour:
    nothing else ever removes them. A fresh one may be a live write's (another redraft on this cache), so it is
    kept. Returns how many were removed; a file that cannot be removed is left alone."""
    cutoff, removed = time.time() - older_than, 0
    for pattern in ("*.tmp", "*/*.tmp"):
        for path in root.glob(pattern):
            try:
                if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except OSError:
                pass
    return removed


class CallCache:
    """Replies stored under the SHA-256 of the canonical request (never the API key)."""

    def __init__(self, root: Path):
        self.root = root
        if root not in _swept:  # once per process and folder: a large cache is listed once, not per caller
            _swept.add(root)
            sweep_stale_tmp(root)

    @staticmethod
    def key(endpoint_id: str, messages: list[dict[str, Any]], args: dict[str, Any]) -> str:
        """The cache key: a hash of model identity, messages and sampling parameters."""
        canonical = json.dumps({"endpoint": endpoint_id, "messages": messages, "args": args},
                               sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored reply, or None (a corrupt entry counts as missing)."""
        try:
            return json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put(self, key: str, record: dict[str, Any]) -> None:
        """Store a reply atomically."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write_atomic(path, json.dumps(scrub_data(record), ensure_ascii=False))
        except OSError:  # a full disk: no half-written temp file is left behind (write_atomic's name for it)
            path.with_name(f"{path.name}.{os.getpid()}.tmp").unlink(missing_ok=True)
            raise

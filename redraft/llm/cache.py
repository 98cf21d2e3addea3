"""A content-addressed on-disk cache of model calls: the same model, messages, parameters and seed
give the same reply without a network call, so a finished run can be replayed exactly."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .._files import write_atomic
from ..secrets import scrub_data


def default_cache_dir() -> Path:
    """$REDRAFT_CACHE_DIR, else $XDG_CACHE_HOME/redraft/calls, else ~/.cache/redraft/calls."""
    env = os.environ.get("REDRAFT_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "redraft" / "calls"


class CallCache:
    """Replies stored under the SHA-256 of the canonical request (never the API key)."""

    def __init__(self, root: Path):
        self.root = root

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
        write_atomic(path, json.dumps(scrub_data(record), ensure_ascii=False))

"""What every command needs around a run: the models served, one Ctrl-C that cancels what is in
flight, and a caller with the cache and budget the user asked for."""

from __future__ import annotations

import asyncio
import signal
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from ..config import Budget
from ..errors import ConfigError
from .cache import CallCache, default_cache_dir
from .client import Caller, Ledger
from .endpoints import ModelProvider


def check_folder(path: str | Path, flag: str) -> Path:
    """A folder a command will write into: it may not exist yet, but neither it nor a parent may be a file."""
    folder = Path(path)
    for existing in (folder, *folder.parents):
        if existing.exists():
            if not existing.is_dir():
                what = "is a file" if existing == folder else f"is inside {existing}, which is a file"
                raise ConfigError(flag, f"{folder} {what}; expected a folder (or a path where one can be made)")
            break
    return folder


def cache_folder(cache_dir: str | Path | None, no_cache: bool = False) -> Path | None:
    """Where replies are cached (None with `no_cache`), checked before any call so a bad path fails first."""
    if no_cache:
        return None
    if cache_dir:
        return check_folder(cache_dir, "--cache-dir")
    return check_folder(default_cache_dir(), "the reply cache ($REDRAFT_CACHE_DIR or ~/.cache/redraft/calls)")


def make_caller(models: ModelProvider, budget: Budget, *, cache_dir: str | Path | None = None, no_cache: bool = False,
                ledger: Ledger | None = None) -> Caller:
    """A caller over `models` with the reply cache (unless `no_cache`) and the budget caps."""
    folder = cache_folder(cache_dir, no_cache)
    return Caller(models, ledger, cache=CallCache(folder) if folder else None, budget=budget)


@contextmanager
def serving(models: ModelProvider, *, own: bool, log_file: Path, status: Callable[[str], None]) -> Iterator[None]:
    """Start the embedded model's server (when the models have one) for the block; stop it after if we opened it."""
    server = getattr(models, "server", None)
    if server is not None and server.log_file is None:
        server.log_file = log_file
    try:
        if server is not None:
            status(f"starting the embedded model {server.model_name} (llama.cpp on 127.0.0.1)...")
            server.start()
            status(f"embedded model ready at {server.base_url}")
        yield
    finally:
        if own:
            _close_quietly(models)


INTERRUPTS = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


@contextmanager
def interrupts_cancel(abort: Callable[[str], None]) -> Iterator[None]:
    """One Ctrl-C or SIGTERM: first `abort` what is in flight (model calls, the reviewer's prompt), told
    which of the two it was, then the task."""
    loop, main = asyncio.get_running_loop(), asyncio.current_task()

    def on_signal(by: str) -> None:
        abort(by)
        if main is not None:
            main.cancel()

    installed: dict[signal.Signals, Any] = {}
    try:
        for sig, by in INTERRUPTS.items():
            before = signal.getsignal(sig)
            loop.add_signal_handler(sig, on_signal, by)
            installed[sig] = before
    except (NotImplementedError, RuntimeError, ValueError):
        pass  # not the main thread, or no signals here: asyncio's own Ctrl-C handling applies
    try:
        yield
    finally:
        for sig, before in installed.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, before)  # asyncio leaves SIG_DFL behind, which would kill SIGTERM's clean stop


def _close_quietly(models: ModelProvider) -> None:
    server = getattr(models, "server", None)
    if server is not None:
        server.stop()

"""What every command needs around a run: the models served, one Ctrl-C that cancels what is in
flight, and a caller with the cache and budget the user asked for."""

from __future__ import annotations

import asyncio
import signal
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from .budget import Budget
from .cache import CallCache, default_cache_dir
from .endpoints import ModelProvider
from .llm import Caller, Ledger


def make_caller(models: ModelProvider, budget: Budget, *, cache_dir: str | Path | None = None, no_cache: bool = False,
                ledger: Ledger | None = None) -> Caller:
    """A caller over `models` with the reply cache (unless `no_cache`) and the budget caps."""
    cache = None if no_cache else CallCache(Path(cache_dir) if cache_dir else default_cache_dir())
    return Caller(models, ledger, cache=cache, budget=budget)


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

"""The time left in a long job of model calls, estimated from how fast each role's calls went so far."""

from __future__ import annotations

import time
from collections.abc import Callable

from .llm import Caller

OnProgress = Callable[[str], None]


class Progress:
    """Where the job is, the time spent, and the time left.

    Work is counted in model calls per role, because calls differ a lot: an executor call is short
    and runs beside others, a critic's review is long. Each role's wall time per call is measured so
    far (time inside its calls over how many run at once); the time left is the calls still planned
    at those rates.
    """

    def __init__(self, emit: OnProgress, parallel: dict[str, int]):
        self.emit = emit
        self.parallel = parallel  # role -> how many of its calls run at once
        self.t0 = time.monotonic()
        self.planned: dict[str, dict[str, float]] = {}  # unit of work -> role -> expected calls
        self.callers: dict[str, Caller] = {}  # unit -> its caller, once started
        self.finished: set[str] = set()

    def plan(self, unit: str, calls: dict[str, float]) -> None:
        """Expect `calls` (per role) for a unit of work; planning a unit again replaces its plan."""
        self.planned[unit] = calls

    def start(self, unit: str, caller: Caller) -> None:
        """The unit's calls go through `caller` from now on."""
        self.callers[unit] = caller

    def finish(self, unit: str) -> None:
        """The unit is done: none of its planned calls are left."""
        self.finished.add(unit)

    def show(self, where: str) -> None:
        """Emit where the job is, with the time spent and (once a call was timed) the time left."""
        elapsed = time.monotonic() - self.t0
        text = f"{where} — elapsed {duration(elapsed)}"
        left = self.left(elapsed)
        if left is not None:
            text += f", about {duration(left)} left"
        self.emit(text)

    def left(self, elapsed: float) -> float | None:
        """Seconds the planned calls not made yet will take at the rates seen so far; None before any call."""
        calls: dict[str, int] = {}  # network calls only: a cache hit takes no time and says nothing about speed
        seconds: dict[str, float] = {}
        for caller in self.callers.values():
            for role, usage in caller.ledger.by_role.items():
                calls[role] = calls.get(role, 0) + usage.network_calls
                seconds[role] = seconds.get(role, 0.0) + usage.seconds
        if not sum(calls.values()):
            return None
        average = elapsed / sum(calls.values())  # for a role not seen yet

        def per_call(role: str) -> float:
            return seconds[role] / calls[role] / self.parallel.get(role, 1) if calls.get(role) else average

        left = 0.0
        for unit, plan in self.planned.items():
            if unit in self.finished:
                continue
            caller = self.callers.get(unit)
            done = caller.ledger.by_role if caller is not None else {}
            for role, n in plan.items():
                left += max(n - (done[role].calls if role in done else 0), 0) * per_call(role)
        return left


def duration(seconds: float) -> str:
    """A duration as 42s, 3m05s or 1h07m."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"

"""Where a long job of model calls is: the calls of the step under way (done of those started) and the time
left, estimated from how fast the calls went so far."""

from __future__ import annotations

import time
from collections.abc import Callable

from .client import Caller

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
        self.where = ""
        self.step = StepCalls(None)  # the calls of the step shown, from the unit started last

    def plan(self, unit: str, calls: dict[str, float]) -> None:
        """Expect `calls` (per role) for a unit of work; planning a unit again replaces its plan."""
        self.planned[unit] = calls

    def start(self, unit: str, caller: Caller) -> None:
        """The unit's calls go through `caller` from now on; each of them updates the line."""
        self.callers[unit] = caller
        self.step = StepCalls(caller)
        caller.listener = self.refresh

    def finish(self, unit: str) -> None:
        """The unit is done: none of its planned calls are left."""
        self.finished.add(unit)

    def show(self, where: str) -> None:
        """Emit where the job is; a new step counts its calls from here."""
        if where != self.where:
            self.where, self.step = where, StepCalls(self.step.caller)
        self.refresh()

    def refresh(self) -> None:
        """Emit the step's calls so far, the time spent and (once a call was timed) the time left of the whole job."""
        elapsed = time.monotonic() - self.t0
        calls = self.step.text()
        text = f"{self.where} — " + (f"{calls}, " if calls else "") + f"elapsed {duration(elapsed)}"
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


class StepCalls:
    """The model calls of one step, counted from its caller since the step began: finished, and started."""

    def __init__(self, caller: Caller | None):
        self.caller = caller
        self.base = caller.ledger.total.calls if caller is not None else 0
        self.t0 = time.monotonic()

    def counts(self) -> tuple[int, int]:
        """(finished, started) calls of the step; started counts those under way or waiting for a slot too."""
        if self.caller is None:
            return 0, 0
        done = self.caller.ledger.total.calls - self.base
        return done, done + self.caller.in_flight

    def text(self) -> str:
        """'14/42 calls', or '' before the step's first call."""
        done, started = self.counts()
        return f"{done}/{started} calls" if started else ""


class StepMeter:
    """A run's progress line: the step under way, its calls done of those started, the time it took so far and,
    at that pace, the time left for the calls started."""

    def __init__(self, emit: OnProgress, caller: Caller):
        self.emit, self.caller = emit, caller
        self.where, self.step = "", StepCalls(caller)
        caller.listener = self.show

    def start(self, where: str) -> None:
        """A new step: its calls are counted from here (shown with its first call, or by `show`)."""
        self.where, self.step = where, StepCalls(self.caller)

    def show(self) -> None:
        """Emit the line."""
        done, started = self.step.counts()
        spent = time.monotonic() - self.step.t0
        if not started:
            self.emit(f"{self.where} — {duration(spent)}")
            return
        text = f"{self.where} — {done}/{started} calls in {duration(spent)}"
        if done and started > done:
            text += f", about {duration(spent / done * (started - done))} left"
        self.emit(text)


def duration(seconds: float) -> str:
    """A duration as 42s, 3m05s or 1h07m."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"

"""Where a long job of model calls is: the calls of the step under way (done of those started) and, once enough
is done to know the pace, the time left."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from .client import Caller

OnProgress = Callable[[str], None]


class TimeLeft:
    """When the time left is worth saying, and how long it is: the time spent so far, scaled by the work still to
    do over the work done. Nothing is said before `min_calls` calls and `min_share` of the work are done: the first
    call's latency (a cold model, a prompt not cached yet) says little about the rest, and a job 1 % done would
    scale any hiccup a hundredfold (a first call extrapolated over a comparison's plan once said 32 hours)."""

    def __init__(self, min_calls: int = 5, min_share: float = 0.05):
        self.min_calls, self.min_share = min_calls, min_share

    def estimate(self, spent: float, done: float, total: float, calls: int) -> float | None:
        """Seconds left at the pace so far, or None while the pace is not known well enough."""
        if calls < self.min_calls or total <= 0 or not self.min_share * total <= done < total:
            return None  # too early, or past the plan (which then was too small to go by)
        return spent * (total - done) / done


class Progress:
    """Where the job is, the time spent, and the time left.

    Work is counted in model calls per role, because calls differ a lot: an executor call is short
    and runs beside others, a critic's review is long. Each role's call is weighted by its wall time
    measured so far (time inside its calls over how many run at once); the time left is the time spent
    scaled by the weighted calls still planned over those made (see TimeLeft), so it rests on the
    whole job's pace, cache hits and waits included, not on one call's latency.
    """

    def __init__(self, emit: OnProgress, parallel: dict[str, int], time_left: TimeLeft | None = None):
        self.emit = emit
        self.parallel = parallel  # role -> how many of its calls run at once
        self.time_left = time_left or TimeLeft()
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
        """Emit the step's calls so far, the time spent and (once the pace is known) the time left of the whole job."""
        elapsed = time.monotonic() - self.t0
        calls = self.step.text()
        text = f"{self.where} — " + (f"{calls}, " if calls else "") + f"elapsed {duration(elapsed)}"
        left = self.left(elapsed)
        if left is not None:
            text += f", about {duration(left)} left"
        self.emit(text)

    def left(self, elapsed: float) -> float | None:
        """Seconds the planned calls not made yet will take at the pace so far; None until that pace is known."""
        weight = self.weights()
        done = total = 0.0
        made = 0
        for unit in dict.fromkeys([*self.planned, *self.callers]):
            caller = self.callers.get(unit)
            spent = caller.ledger.by_role if caller is not None else {}
            plan = self.planned.get(unit, {})
            for role in dict.fromkeys([*plan, *spent]):
                n = spent[role].calls if role in spent else 0
                made += n
                done += n * weight(role)
                # A finished unit has nothing left, whatever it was planned to make; an unfinished one at least its plan.
                total += (n if unit in self.finished else max(n, plan.get(role, 0.0))) * weight(role)
        return self.time_left.estimate(elapsed, done, total, made)

    def weights(self) -> Callable[[str], float]:
        """A role's call, in wall seconds measured so far (network calls only: a cache hit takes no time); a role not
        measured yet weighs as the average of those measured, and every role the same before any was."""
        calls: dict[str, int] = {}
        seconds: dict[str, float] = {}
        for caller in self.callers.values():
            for role, usage in caller.ledger.by_role.items():
                calls[role] = calls.get(role, 0) + usage.network_calls
                seconds[role] = seconds.get(role, 0.0) + usage.seconds
        known = {role: seconds[role] / n / self.parallel.get(role, 1) for role, n in calls.items() if n and seconds[role] > 0}
        default = statistics.fmean(known.values()) if known else 1.0
        return lambda role: known.get(role, default)


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
    once enough of them are done to know the pace, the time left for the calls started."""

    def __init__(self, emit: OnProgress, caller: Caller, time_left: TimeLeft | None = None):
        self.emit, self.caller = emit, caller
        self.time_left = time_left or TimeLeft()
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
        left = self.time_left.estimate(spent, done, started, done)
        if left is not None:
            text += f", about {duration(left)} left"
        self.emit(text)


def duration(seconds: float) -> str:
    """A duration as 42s, 3m05s or 1h07m."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"

"""The live progress line as a user sees it: a time left only once the pace is known and never a wild one, a line
that fits the terminal, one header per round, and the same plain, throttled lines from `run` and `compare` in a log."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from test_compare import compare, sentiment_models, sentiment_scenario

from redraft import Hooks, RunOptions, run_scenario

LEFT = re.compile(r"about (?:(\d+)h)?(?:(\d+)m)?(\d+)?s? left")


def seconds_left(line: str) -> float | None:
    """The time left a progress line announces, in seconds; None when it announces none."""
    found = LEFT.search(line)
    if found is None:
        return None
    hours, minutes, secs = (int(g) if g else 0 for g in found.groups())
    return hours * 3600 + minutes * 60 + secs


def slow_first_call(models: Any, seconds: float) -> None:
    """The first call of the job, whichever role makes it, takes `seconds` (a cold model); the rest are instant."""
    first = [True]
    for client in models.clients.values():
        def answer(texts: list[str], args: dict[str, Any], inner: Any = client.answer) -> str:
            if first[0]:
                first[0] = False
                time.sleep(seconds)
            return inner(texts, args)

        client.answer = answer


def test_compare_gives_no_time_left_from_its_first_call_and_never_a_wild_one(isolated: Path) -> None:
    models = sentiment_models()
    slow_first_call(models, 0.5)
    started = time.monotonic()
    _, progress = compare(sentiment_scenario(isolated), models, repeats=2)
    took = time.monotonic() - started
    estimates = [(line, seconds_left(line)) for line in progress]
    # Hundreds of calls are planned: the job's first calls (its first step's "1/6 calls") set no pace for all of them.
    opening = [left for line, left in estimates if re.match(r"arm sequential, repeat 1/2, round 1 — [1-4]/", line)]
    assert opening and opening == [None] * len(opening)
    # Extrapolating the slow first call over the plan said minutes for a job of seconds.
    worst = max(left for _, left in estimates if left is not None)
    assert worst <= 5 * took + 1, (worst, took)
    assert sum(left is not None for _, left in estimates) > len(estimates) / 2  # once the pace is known, it is said


def test_run_gives_no_time_left_after_one_call_of_a_step(isolated: Path) -> None:
    seen: list[str] = []
    options = RunOptions(runs_dir=isolated / "runs", no_cache=True, rounds=2)
    run_scenario(str(sentiment_scenario(isolated)), options, Hooks(on_progress=seen.append), models=sentiment_models())
    counted = [(int(m.group(1)), int(m.group(2)), line) for line in seen if (m := re.search(r"— (\d+)/(\d+) calls", line))]
    assert any(done == 1 < started for done, started, _ in counted)  # a step with several calls, one of them done
    assert not [line for done, _, line in counted if done == 1 and "left" in line]
    assert any("left" in line for *_, line in counted)  # later in a step, the time left is said

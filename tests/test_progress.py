"""The live progress line as a user sees it: a time left only once the pace is known and never a wild one, a line
that fits the terminal, one header per round, and the same plain, throttled lines from `run` and `compare` in a log."""

from __future__ import annotations

import io
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from test_compare import compare, sentiment_models, sentiment_scenario

from redraft import Hooks, RunOptions, run_scenario
from redraft.console import Console, ProgressLine

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
    # Extrapolating the slow first call over the plan said minutes for a job of seconds (10m17s for a 3 s job).
    # Once 5 % of the work is done the slow call still weighs in the pace, so an estimate can run several times
    # the job on a fast machine; the bound is for the wild ones, with room for a loaded CI machine's timing.
    worst = max(left for _, left in estimates if left is not None)
    assert worst <= 20 * took + 5, (worst, took)
    assert sum(left is not None for _, left in estimates) > len(estimates) / 2  # once the pace is known, it is said


def test_run_gives_no_time_left_after_one_call_of_a_step(isolated: Path) -> None:
    seen: list[str] = []
    options = RunOptions(runs_dir=isolated / "runs", no_cache=True, rounds=2)
    run_scenario(str(sentiment_scenario(isolated)), options, Hooks(on_progress=seen.append), models=sentiment_models())
    counted = [(int(m.group(1)), int(m.group(2)), line) for line in seen if (m := re.search(r"— (\d+)/(\d+) calls", line))]
    assert any(done == 1 < started for done, started, _ in counted)  # a step with several calls, one of them done
    assert not [line for done, _, line in counted if done == 1 and "left" in line]
    assert any("left" in line for *_, line in counted)  # later in a step, the time left is said


class Terminal(io.StringIO):
    """stderr as a terminal: what the user's screen receives."""

    def isatty(self) -> bool:
        return True


def test_on_a_terminal_no_progress_line_is_wider_than_the_terminal(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    monkeypatch.setenv("COLUMNS", "80")
    console = Console(io.StringIO())
    options = RunOptions(runs_dir=isolated / "runs", no_cache=True, rounds=2)
    run_scenario(str(sentiment_scenario(isolated)), options, console.hooks(), models=sentiment_models())
    shown = [re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", part) for part in re.split(r"[\r\n]", screen.getvalue())]
    lines = [part for part in shown if part.startswith("… [")]
    assert lines and max(map(len, lines)) <= 80
    # The test scoring's line ("… [0s] scoring the final prompt (round N) on 10 test examples — 5/10 calls in 0s,
    # about 0s left") is longer: it is cut, and says so.
    assert any(line.endswith("…") and line.startswith("… [") and "scoring the final prompt" in line for line in lines)


def test_a_three_round_run_shows_each_round_header_once(isolated: Path) -> None:
    shown = io.StringIO()
    models = sentiment_models(quality=lambda s: 5, improve=0)  # nothing beats round 1: the test scores round 1's prompt
    options = RunOptions(runs_dir=isolated / "runs", no_cache=True)
    outcome = run_scenario(str(sentiment_scenario(isolated, rounds=3)), options, Console(shown).hooks(), models=models)
    assert len(outcome.summary.rounds) == 3 and outcome.summary.test is not None and outcome.summary.best_round == 1
    headers = [line.strip("━ ") for line in shown.getvalue().splitlines() if line.startswith("━━")]
    assert headers == ["Round 1", "Round 2", "Round 3", "Test"]
    assert "the final prompt (round 1) scores" in shown.getvalue().split("━━ Test")[1]


def test_off_a_terminal_progress_is_a_line_per_step_at_most_every_few_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    now = [0.0]
    line = ProgressLine(every=5.0, heartbeat=60.0, clock=lambda: now[0])
    for second in range(100):  # a new step every second, each with a few calls
        now[0] = float(second)
        for call in range(3):
            line.show(f"step {second} — {call}/3 calls")
    for second in range(100, 400):  # then one step of five minutes
        now[0] = float(second)
        line.show(f"long step — {second - 100}/300 calls")
    logged = capsys.readouterr().err.splitlines()
    assert logged[0] == "step 0 — 0/3 calls"  # the first at once
    quick = [entry for entry in logged if entry.startswith("step ")]
    assert len(quick) == 20 and all(int(entry.split()[1]) % 5 == 0 for entry in quick)  # one every 5 s, not 300
    assert [entry for entry in logged if entry.startswith("long")] == [
        "long step — 0/300 calls", "long step — 60/300 calls", "long step — 120/300 calls", "long step — 180/300 calls",
        "long step — 240/300 calls"]  # a long step still shows it is alive, once a minute

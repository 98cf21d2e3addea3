"""Faults on the HTTP path, on a fake OpenAI server on 127.0.0.1: each run either completes, or
stops resumably (clear error, state.json saved) and `resume_run` completes it. Whatever happened,
the finished transcript holds every message exactly once, in the order of the round."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any, Callable

import pytest
from conftest import SCENARIO as BASE_SCENARIO, start_cli, write_scenario
from fakeserver import (JUNK, FakeOpenAI, Fault, body_fault, content_fault, die_fault, drop_fault, is_execution,
                        is_proposal, is_review, junk_reviews, on_matching, passthrough, slow_fault, smart_responder,
                        status_fault)

from redraft import EndpointError, RunOptions, resume_run, run_scenario
from redraft.config import Budget
from redraft.records import ReviewSummary

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # autogen warns about the fake model's name

KEY = "sk-SENTINEL-fault-suite-7f3a9c1e5b"
CRITICS = ["clarity", "fidelity"]

# The shared test scenario, with the default judge-noise re-scoring and the default stop rules.
SCENARIO = BASE_SCENARIO.split("rounds: 3")[0] + "rounds: 2\n"
# Round 1 runs the user's own prompt (the task text: no seed_prompt) and asks the engineer nothing, so a run's first
# requests are round 1's two executor calls and its first proposal request is round 2's.
TASK = "Answer a refund request under the 30-day policy."


def is_start_execution(request: dict[str, Any]) -> bool:
    """Whether a request is the Task Executor's running the start prompt (round 1)."""
    return request["messages"][0]["content"] == TASK


def proposal_hits(srv: FakeOpenAI) -> list[int]:
    """The indexes of the Prompt Engineer's requests, in arrival order."""
    return [i for i, r in enumerate(srv.requests) if is_proposal(r)]


# --- helpers -----------------------------------------------------------------------------------


def round_plan(critics: list[str], rounds: int, *, labeled: bool = False) -> list[tuple[str, str, int]]:
    """The (source, kind, round) of every message of a finished run, in order."""
    plan = [("user", "task", 0)]
    for n in range(1, rounds + 1):
        plan += [("prompt_engineer", "proposal", n), ("task_executor", "outputs", n)]
        if labeled:
            plan.append(("evaluator", "metric", n))
        plan += [(c, "review", n) for c in critics]
        plan += [("critic_panel", "panel", n), ("moderator", "stop" if n == rounds else "decision", n)]
    return plan


def check_transcript(lines: list[dict[str, Any]], critics: list[str], *, finished: bool = True,
                     labeled: bool = False) -> int:
    """Every message exactly once and in round order; returns the number of rounds.

    With finished=False the lines need only be a prefix of some run (an interrupted one).
    """
    assert [ln["seq"] for ln in lines] == list(range(1, len(lines) + 1)), "seq must run 1..N without gaps or repeats"
    rounds = max(1, sum(1 for ln in lines if ln["source"] == "prompt_engineer"))
    # An interrupted run's last round is not its final one: its moderator would decide, not stop.
    plan = round_plan(critics, rounds if finished else rounds + 1, labeled=labeled)
    got = [(ln["source"], ln["kind"], int(ln["round"])) for ln in lines]
    if finished:
        assert got == plan
        assert lines[-1]["type"] == "StopMessage" and lines[-1]["source"] == "moderator"
    else:
        assert got == plan[: len(got)]
        assert all(ln["type"] != "StopMessage" for ln in lines)
    return rounds


def read_lines(run_dir: Path) -> list[dict[str, Any]]:
    """transcript.jsonl, every line parsed (a line that is not JSON fails the test)."""
    text = (run_dir / "transcript.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def check_finished(run_dir: Path, critics: list[str] = CRITICS, rounds: int = 2) -> dict[str, Any]:
    """A completed run: transcript in order, summary and prompt files consistent with it."""
    lines = read_lines(run_dir)
    assert check_transcript(lines, critics) == rounds
    summary = json.loads((run_dir / "summary.json").read_text())
    assert len(summary["rounds"]) == rounds
    assert summary["stop_reason"] in lines[-1]["content"]
    assert not summary["stop_reason"].startswith(("error", "budget", "unfinished"))
    assert summary["best_round"] is not None and summary["final_prompt"]
    for n in range(1, rounds + 1):
        assert (run_dir / "prompts" / f"round-{n}.txt").is_file()
    assert (run_dir / "final_prompt.txt").read_text().strip() == summary["final_prompt"].strip()
    return summary


def config(path: Path, base_url: str, **extra: Any) -> str:
    """An OAI_CONFIG_LIST with one fast-retrying entry for every role."""
    entry = {"model": "fake-model", "base_url": base_url, "api_key": KEY, "tags": ["default"],
             "max_retries": 2, "retry_base_seconds": 0.01, "timeout": 5, **extra}
    path.write_text(json.dumps([entry]))
    return str(path)


def options(cfg: str, **kw: Any) -> RunOptions:
    kw.setdefault("no_cache", True)
    return RunOptions(config=cfg, runs_dir=Path("runs").absolute(), **kw)


def only_run(root: Path) -> Path:
    runs = list((root / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def free_port() -> int:
    """A port on 127.0.0.1 that nobody listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_stopped(root: Path, needle: str) -> Path:
    """A run that stopped on an error: the reason recorded, state.json saved, the transcript a clean prefix."""
    run_dir = only_run(root)
    assert (run_dir / "state.json").is_file() and (run_dir / "config.json").is_file()
    state = json.loads((run_dir / "state.json").read_text())
    assert state["run"]["stop_reason"] is None  # resumable
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["stop_reason"].startswith("error:") and needle in summary["stop_reason"], summary["stop_reason"]
    lines = read_lines(run_dir)
    check_transcript(lines, CRITICS, finished=False)
    assert state["seq"] == len(lines)
    return run_dir


def redraft(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OAI_CONFIG_LIST", "OPENAI_API_KEY")}
    return subprocess.run([sys.executable, "-m", "redraft.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def scenario(isolated: Path) -> str:
    return str(write_scenario(isolated, SCENARIO))


# --- the baseline, and the structure check itself ------------------------------------------------


@pytest.mark.parametrize("critics,rounds,structured", [(["fidelity"], 1, False), (CRITICS, 2, True),
                                                       (["clarity", "fidelity", "format"], 3, False)])
def test_clean_run_has_the_round_structure(isolated: Path, critics: list[str], rounds: int, structured: bool) -> None:
    text = SCENARIO.replace("critics: [clarity, fidelity]", f"critics: [{', '.join(critics)}]")
    path = write_scenario(isolated, text.replace("rounds: 2", f"rounds: {rounds}\nstop: {{patience: 5}}"))
    with FakeOpenAI() as srv:
        cfg = config(isolated / "models.json", srv.base_url, model_info={"structured_output": structured})
        out = run_scenario(str(path), options(cfg))
    # With structured output the schema goes in response_format, else it is written into the request.
    assert all(("response_format" in r) == structured for r in srv.requests if is_review(r) or is_proposal(r))
    summary = check_finished(out.run_dir.path, critics, rounds)
    assert summary["stop_reason"] == f"round limit reached ({rounds})"
    assert summary["best_score"] == 7.0 and summary["usage"]["network_calls"] == len(srv.requests)


def test_structure_check_catches_a_duplicate_a_gap_and_a_wrong_order() -> None:
    good = [{"seq": i, "source": s, "kind": k, "round": r, "type": "StopMessage" if k == "stop" else "TextMessage"}
            for i, (s, k, r) in enumerate(round_plan(CRITICS, 2), 1)]
    assert check_transcript(good, CRITICS) == 2
    duplicate = good[:5] + [{**good[4], "seq": 6}] + [{**ln, "seq": ln["seq"] + 1} for ln in good[5:]]
    gap = good[:3] + good[4:]
    swapped = [*good[:3], {**good[4], "seq": 4}, {**good[3], "seq": 5}, *good[5:]]
    for bad in (duplicate, gap, swapped, good[:-1]):
        with pytest.raises(AssertionError):
            check_transcript(bad, CRITICS)


# --- faults a run rides through ------------------------------------------------------------------


def test_429_retry_waits_for_retry_after(isolated: Path, scenario: str) -> None:
    with FakeOpenAI() as srv:
        srv.fault_for = on_matching(is_proposal, [status_fault(429, {"Retry-After": "0.4"})])  # the lone engineer call
        out = run_scenario(scenario, options(config(isolated / "models.json", srv.base_url)))
    i, j = proposal_hits(srv)
    first, retry = srv.hits[i], srv.hits[j]
    assert first.status == 429 and retry.status == 200
    assert srv.requests[j] == srv.requests[i]  # the same request, again
    # retry_base_seconds is 0.01, so only Retry-After explains a wait this long.
    assert retry.arrived - first.done >= 0.4
    check_finished(out.run_dir.path)
    assert out.summary.usage.network_calls == len(srv.requests) - 1


def test_429_retry_after_as_http_date(isolated: Path, scenario: str) -> None:
    def later(h: Any) -> bool:  # an HTTP-date has whole seconds: the wait is between 1 and 2 s
        return status_fault(429, {"Retry-After": formatdate(time.time() + 2.0, usegmt=True)})(h)

    with FakeOpenAI() as srv:
        srv.fault_for = on_matching(is_proposal, [later])
        out = run_scenario(scenario, options(config(isolated / "models.json", srv.base_url)))
    i, j = proposal_hits(srv)
    assert srv.hits[i].status == 429 and srv.hits[j].arrived - srv.hits[i].done >= 0.9
    check_finished(out.run_dir.path)


def test_server_errors_are_retried(isolated: Path, scenario: str) -> None:
    with FakeOpenAI() as srv:
        # Two in a row (max_retries is 2, so even one call failing twice is retried to success).
        srv.faults += [*passthrough(2), status_fault(500), status_fault(503)]
        out = run_scenario(scenario, options(config(isolated / "models.json", srv.base_url)))
    assert [h.status for h in srv.hits].count(200) == len(srv.hits) - 2
    check_finished(out.run_dir.path)
    assert out.summary.usage.network_calls == len(srv.requests) - 2


def test_reply_slower_than_the_timeout_is_abandoned_and_retried(isolated: Path, scenario: str) -> None:
    with FakeOpenAI() as srv:
        srv.fault_for = on_matching(is_proposal, [slow_fault(1.5)])  # the engineer's call: alone in its turn
        out = run_scenario(scenario, options(config(isolated / "models.json", srv.base_url, timeout=0.5)))
    i, j = proposal_hits(srv)
    gap = srv.hits[j].arrived - srv.hits[i].arrived
    # The client starts its 0.5 s timer a little before the request reaches the server: allow 50 ms.
    assert 0.45 <= gap < 1.4  # gave up at the timeout, did not wait for the slow answer
    check_finished(out.run_dir.path)


MALFORMED = {
    "not JSON": body_fault(b"this is not JSON {"),
    "HTML error page": body_fault(b"<html><body>502 Bad Gateway</body></html>", "text/html"),
    "JSON without choices": body_fault(b'{"id": "x", "object": "chat.completion", "created": 0, "model": "m"}'),
    "dropped connection": drop_fault(),
}


@pytest.mark.parametrize("fault", list(MALFORMED))
@pytest.mark.parametrize("at", ["engineer", "executor"])
def test_malformed_reply_is_retried(isolated: Path, scenario: str, fault: str, at: str) -> None:
    with FakeOpenAI() as srv:
        if at == "engineer":
            srv.fault_for = on_matching(is_proposal, [MALFORMED[fault]])
        else:
            srv.faults += [*passthrough(1), MALFORMED[fault]]  # request 1: round 1's second executor call
        out = run_scenario(scenario, options(config(isolated / "models.json", srv.base_url)))
    check_finished(out.run_dir.path)
    assert out.summary.usage.network_calls == len(srv.requests) - 1


def test_empty_choices_list_is_retried(isolated: Path, scenario: str) -> None:
    empty = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 0, "total_tokens": 1}}).encode()
    with FakeOpenAI() as srv:
        srv.faults.append(body_fault(empty))
        out = run_scenario(scenario, options(config(isolated / "models.json", srv.base_url)))
    check_finished(out.run_dir.path)


@pytest.mark.parametrize("content", ["", None], ids=["empty", "null"])
def test_empty_content_from_the_executor_is_recorded(isolated: Path, scenario: str, content: str | None) -> None:
    with FakeOpenAI() as srv:
        srv.faults += [*passthrough(1), content_fault(content)]  # request 1: one of round 1's executor calls
        out = run_scenario(scenario, options(config(isolated / "models.json", srv.base_url)))
    check_finished(out.run_dir.path)
    lines = read_lines(out.run_dir.path)
    outputs = next(ln for ln in lines if ln["kind"] == "outputs")["content"]
    assert "output: \n" in outputs or outputs.rstrip().endswith("output:")  # one output is empty
    review = next(r for r in srv.requests if is_review(r))["messages"][-1]["content"]
    assert "output: (empty)" in review  # and the critics are told so


def test_empty_content_from_the_engineer_gets_a_repair_retry(isolated: Path, scenario: str) -> None:
    with FakeOpenAI() as srv:
        srv.fault_for = on_matching(is_proposal, [content_fault("")])  # round 2's proposal, the first one
        out = run_scenario(scenario, options(config(isolated / "models.json", srv.base_url)))
    check_finished(out.run_dir.path)
    i, j = proposal_hits(srv)
    assert "could not be used" in srv.requests[j]["messages"][-1]["content"]
    assert out.summary.rounds[1].origin == "prompt_engineer"


def test_invalid_critic_json_gets_one_repair(isolated: Path, scenario: str) -> None:
    with FakeOpenAI(junk_reviews(1)) as srv:  # the first review reply is prose, not JSON
        out = run_scenario(scenario, options(config(isolated / "models.json", srv.base_url)))
    check_finished(out.run_dir.path)
    repairs = [r for r in srv.requests if is_review(r) and "could not be used" in r["messages"][-1]["content"]]
    assert len(repairs) == 1 and repairs[0]["messages"][-2]["content"] == JUNK
    assert all(isinstance(c, ReviewSummary) for r in out.summary.rounds for c in r.critics.values())


def test_critic_that_never_answers_json_is_recorded_and_the_round_goes_on(isolated: Path, scenario: str) -> None:
    def fidelity_junk(request: dict[str, Any]) -> str:
        if is_review(request) and "fidelity to the task" in request["messages"][0]["content"]:
            return JUNK
        return smart_responder(request)

    with FakeOpenAI(fidelity_junk) as srv:
        out = run_scenario(scenario, options(config(isolated / "models.json", srv.base_url)))
    summary = check_finished(out.run_dir.path)
    for r in summary["rounds"]:
        assert r["critics"]["fidelity"]["raw"] == [JUNK, JUNK] and r["critics"]["fidelity"]["error"]
        assert r["critics"]["clarity"]["scores"] == {"policy": 7, "tone": 7}
    lines = read_lines(out.run_dir.path)
    assert all("review unusable" in ln["content"] for ln in lines if ln["source"] == "fidelity")
    assert all("1/2 reviews parsed" in ln["content"] for ln in lines if ln["kind"] == "panel")


# --- faults that stop a run, and resume ----------------------------------------------------------


PERSISTENT: dict[str, tuple[Callable[[], Fault], dict[str, Any], str]] = {
    "500": (lambda: status_fault(500), {}, "answered HTTP 500 after 2 attempts"),
    "429": (lambda: status_fault(429, {"Retry-After": "0.05"}), {}, "answered HTTP 429 after 2 attempts"),
    "timeout": (lambda: slow_fault(0.8), {"timeout": 0.3}, "timed out after 2 attempts"),
    "malformed": (lambda: body_fault(b"not json"), {}, "not a chat completion after 2 attempts"),
}


@pytest.mark.parametrize("fault", list(PERSISTENT))
def test_persistent_fault_stops_resumably_then_resume_completes(isolated: Path, scenario: str, fault: str) -> None:
    make, extra, needle = PERSISTENT[fault]
    with FakeOpenAI() as srv:
        cfg = config(isolated / "models.json", srv.base_url, max_retries=1, **extra)
        # Both attempts of round 2's proposal fail (the first proposal request: round 1 asks the engineer nothing).
        srv.fault_for = on_matching(is_proposal, [make(), make()])
        with pytest.raises(EndpointError) as err:
            run_scenario(scenario, options(cfg))
        assert needle in str(err.value) and "redraft resume" in str(err.value)
        run_dir = check_stopped(isolated, needle)
        assert len(read_lines(run_dir)) == 7  # the task and round 1's six messages, nothing of round 2
        out = resume_run(run_dir, options(cfg))
    assert out.run_dir.path == run_dir
    check_finished(run_dir)


def test_refused_connection_via_cli_then_resume(isolated: Path, scenario: str) -> None:
    port = free_port()
    cfg = config(isolated / "models.json", f"http://127.0.0.1:{port}/v1", max_retries=1)
    proc = redraft("run", scenario, "--config", cfg, "--no-cache", "--quiet", cwd=isolated)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert f"cannot reach model 'fake-model' (tag 'default') at http://127.0.0.1:{port}/v1" in proc.stderr
    assert "redraft resume" in proc.stderr
    run_dir = check_stopped(isolated, "cannot reach")
    # Only the task and round 1's start prompt, which needs no model: nothing was answered.
    assert [(ln["source"], ln["round"]) for ln in read_lines(run_dir)] == [("user", 0), ("prompt_engineer", 1)]
    with FakeOpenAI() as srv:  # the server comes up elsewhere: point the config at it and resume
        out = resume_run(run_dir, options(config(isolated / "models.json", srv.base_url)))
    check_finished(out.run_dir.path)


@pytest.mark.parametrize("answered", [1, 4, 6, 9])  # dies on an executor call, a critic's, late in round 1, in round 2
def test_server_dies_mid_run_and_comes_back_on_the_same_port(isolated: Path, scenario: str, answered: int) -> None:
    with FakeOpenAI() as srv:
        cfg = config(isolated / "models.json", srv.base_url, max_retries=1)
        srv.die_after(answered)
        with pytest.raises(EndpointError):
            run_scenario(scenario, options(cfg))
    run_dir = check_stopped(isolated, "cannot reach")
    with FakeOpenAI(port=srv.port) as again:
        out = resume_run(run_dir, options(cfg))
    assert again.requests
    check_finished(out.run_dir.path)


def die_in_round_two(isolated: Path, scenario: str) -> tuple[Path, str, int]:
    """A run whose server dies at round 2's executor calls: its last checkpoint is round 2's proposal."""
    with FakeOpenAI() as srv:
        cfg = config(isolated / "models.json", srv.base_url, max_retries=0)
        srv.fault_for = on_matching(is_execution, [die_fault()])  # round 1's executor ran the task text, not PROMPT
        with pytest.raises(EndpointError):
            run_scenario(scenario, options(cfg))
    run_dir = check_stopped(isolated, "cannot reach")
    state = json.loads((run_dir / "state.json").read_text())
    assert [(e["source"], e["round"]) for e in state["outbox"]] == [("prompt_engineer", 2)]
    return run_dir, cfg, srv.port


def test_lines_lost_between_checkpoint_and_append_are_restored(isolated: Path, scenario: str) -> None:
    run_dir, cfg, port = die_in_round_two(isolated, scenario)
    # As if the process died after writing state.json but before appending the turn's line.
    path = run_dir / "transcript.jsonl"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
    with FakeOpenAI(port=port):
        out = resume_run(run_dir, options(cfg))
    check_transcript(read_lines(out.run_dir.path), CRITICS)


def test_prompt_file_lost_between_checkpoint_and_append_is_restored(isolated: Path, scenario: str) -> None:
    run_dir, cfg, port = die_in_round_two(isolated, scenario)
    path = run_dir / "transcript.jsonl"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
    (run_dir / "prompts" / "round-2.txt").unlink()
    with FakeOpenAI(port=port):
        out = resume_run(run_dir, options(cfg))
    check_finished(out.run_dir.path)


def test_half_written_line_is_replaced_on_resume(isolated: Path, scenario: str) -> None:
    run_dir, cfg, port = die_in_round_two(isolated, scenario)
    path = run_dir / "transcript.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # the crash cut the last line short
    with FakeOpenAI(port=port):
        out = resume_run(run_dir, options(cfg))
    check_transcript(read_lines(out.run_dir.path), CRITICS)


# --- budget caps ---------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["scenario", "options"])
def test_budget_cap_stops_cleanly_and_resume_with_a_higher_cap_completes(isolated: Path, where: str) -> None:
    text = SCENARIO + "budget: {max_calls: 2}\n" if where == "scenario" else SCENARIO
    path = str(write_scenario(isolated, text))
    cap = None if where == "scenario" else Budget(max_calls=2)
    with FakeOpenAI() as srv:
        cfg = config(isolated / "models.json", srv.base_url)
        out = run_scenario(path, options(cfg, budget=cap))  # no exception: a cap is a clean stop
        assert out.summary.stop_reason.startswith("budget cap reached") and "max_calls 2" in out.summary.stop_reason
        assert len(srv.requests) == 2 and out.summary.usage.network_calls == 2  # round 1's 2 executor calls, no more
        run_dir = out.run_dir.path
        state = json.loads((run_dir / "state.json").read_text())
        assert state["run"]["stop_reason"] is None and state["seq"] == 3
        check_transcript(read_lines(run_dir), CRITICS, finished=False)
        again = resume_run(run_dir, options(cfg, budget=Budget(max_calls=100)))
    assert again.summary.usage.network_calls == len(srv.requests)
    check_finished(run_dir)


def test_budget_counts_calls_of_an_interrupted_turn_across_resume(isolated: Path) -> None:
    # Without judge-noise re-scoring, the critics' two calls are a turn of their own: the cap of 4 falls before it
    # exactly when the interrupted turn's two requests are counted (2 + the resumed turn's 2).
    path = str(write_scenario(isolated, SCENARIO + "noise_repeats: 0\n"))
    with FakeOpenAI() as srv:
        cfg = config(isolated / "models.json", srv.base_url, max_retries=0)
        # One of round 1's executor calls is answered, then the server dies under the other one.
        srv.fault_for = on_matching(is_start_execution, [*passthrough(1), die_fault()])
        with pytest.raises(EndpointError):
            run_scenario(path, options(cfg, budget=Budget(max_calls=4)))
    answered = [h for h in srv.hits if h.status == 200]
    assert len(answered) == 1 and len(srv.hits) == 2
    with FakeOpenAI(port=srv.port) as again:
        out = resume_run(only_run(isolated), options(cfg, budget=Budget(max_calls=4)))
    assert out.summary.stop_reason.startswith("budget cap reached")
    answered += [h for h in again.hits if h.status == 200]
    assert len(answered) <= 4, f"{len(answered)} calls answered over the network under max_calls 4"


def test_max_calls_counts_every_request_sent_retries_included(isolated: Path, scenario: str) -> None:
    with FakeOpenAI() as srv:
        # Both of round 1's executor calls get a 500 and are retried: four requests, two answers.
        srv.faults += [status_fault(500), status_fault(500)]
        out = run_scenario(scenario, options(config(isolated / "models.json", srv.base_url), budget=Budget(max_calls=4)))
    assert out.summary.stop_reason == "budget cap reached: max_calls 4 reached"  # at the critics' turn
    assert len(srv.requests) == 4, f"{len(srv.requests)} requests sent under max_calls 4"
    assert out.summary.usage.requests == 4 and out.summary.usage.network_calls == 2


def test_requests_in_flight_when_the_process_is_killed_are_counted(isolated: Path, scenario: str) -> None:
    with FakeOpenAI(latency=3.0) as srv:
        cfg = config(isolated / "models.json", srv.base_url, timeout=30)
        proc = start_cli("run", scenario, "--config", cfg, "--no-cache", "--quiet", cwd=isolated)
        try:
            deadline = time.monotonic() + 120  # a loaded machine can be slow to start Python
            while len(srv.hits) < 2 and time.monotonic() < deadline:  # round 1's two executor calls
                time.sleep(0.05)
            time.sleep(0.5)  # both executor calls are waiting for their answers; nothing else can be sent
            assert len(srv.hits) == 2, proc.communicate()[1] if proc.poll() is not None else "still running"
        finally:
            proc.kill()
            proc.wait()
        killed = len(srv.requests)
        srv.latency = 0.0
        out = resume_run(only_run(isolated), options(cfg, budget=Budget(max_calls=killed + 12)))
        # Every request the server saw is counted: the killed turn's included, and the cap with them.
        assert out.summary.usage.requests == len(srv.requests) > killed
        assert len(srv.requests) <= killed + 12


# --- the cache -----------------------------------------------------------------------------------


def test_second_run_replays_from_the_cache_without_a_request(isolated: Path, scenario: str) -> None:
    counter = {"n": 0}
    lock = threading.Lock()

    def numbered(request: dict[str, Any]) -> str:
        """Every reply differs, so only the cache can make the second run's transcript equal the first."""
        with lock:
            counter["n"] += 1
            n = counter["n"]
        reply = smart_responder(request)
        if is_review(request):
            return reply
        if reply.startswith("{"):
            data = json.loads(reply)
            data["prompt"] += f" (draft {n})"
            return json.dumps(data)
        return f"{reply} (answer {n})"

    cache = isolated / "cache"
    with FakeOpenAI(numbered) as srv:
        cfg = config(isolated / "models.json", srv.base_url)
        first = run_scenario(scenario, options(cfg, no_cache=False, cache_dir=cache))
        made = len(srv.requests)
        second = run_scenario(scenario, options(cfg, no_cache=False, cache_dir=cache))
        assert len(srv.requests) == made, "the second run sent requests"
    assert first.run_dir.path != second.run_dir.path
    view = lambda p: [(ln["source"], ln["kind"], ln["content"]) for ln in read_lines(p)]  # noqa: E731
    assert view(first.run_dir.path) == view(second.run_dir.path)
    check_finished(second.run_dir.path)
    u = second.summary.usage
    assert u.network_calls == 0 and u.cache_hits == u.calls == first.summary.usage.calls


# --- secrets -------------------------------------------------------------------------------------


def test_api_key_appears_in_no_file_and_no_output(isolated: Path, scenario: str) -> None:
    def echo_key(h: Any) -> bool:
        """A gateway error that quotes the Authorization header back."""
        return status_fault(500, message=f"upstream rejected {h.headers.get('Authorization')}")(h)

    cache = isolated / "cache"
    with FakeOpenAI() as srv:
        cfg = config(isolated / "models.json", srv.base_url, max_retries=1)
        srv.faults += [*passthrough(3), echo_key, echo_key]  # a critic's two attempts: the run stops on an error
        failed = redraft("run", scenario, "--config", cfg, "--cache-dir", str(cache), cwd=isolated)
        assert failed.returncode != 0 and "answered HTTP 500" in failed.stderr, failed.stderr
        assert "upstream rejected Bearer ***" in failed.stderr  # the echoed key is masked, the rest kept
        run_dir = only_run(isolated)
        resumed = redraft("resume", str(run_dir), "--config", cfg, "--cache-dir", str(cache), cwd=isolated)
        assert resumed.returncode == 0, resumed.stderr
    sent = [{k.lower(): v for k, v in h.items()}["authorization"] for h in srv.headers]
    assert sent and all(a == f"Bearer {KEY}" for a in sent)  # the key was really used
    check_finished(run_dir)
    assert any(cache.rglob("*.json"))
    written = [f for f in isolated.rglob("*") if f.is_file() and f.name != "models.json"]
    assert any(f.name == "state.json" for f in written) and any(f.parent.parent == cache for f in written)
    for f in written:
        assert KEY not in f.read_text(encoding="utf-8", errors="replace"), f
    for proc in (failed, resumed):
        assert KEY not in proc.stdout + proc.stderr

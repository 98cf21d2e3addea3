"""The human reviewer in a real pseudo-terminal, scripted input, Ctrl-C and kill -9, then resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pexpect
import pytest
from conftest import SCENARIO, write_scenario
from fakeserver import FakeOpenAI, requested_schema

SIMPLE = SCENARIO.split("roles:")[0]
FEEDBACK = "Please mention the 30-day rule in every reply"
EDITED = "EDITED BY REVIEWER: answer refund requests; refunds only within 30 days."


def setup(folder: Path, srv: FakeOpenAI, rounds: int = 3) -> dict[str, str]:
    write_scenario(folder, SIMPLE.replace("rounds: 3", f"rounds: {rounds}").replace("patience: 2", "patience: 5"))
    cfg = folder / "models.json"
    cfg.write_text(json.dumps([{"model": "fake", "base_url": srv.base_url, "max_retries": 0, "timeout": 30}]))
    env = {k: v for k, v in os.environ.items() if k not in ("OAI_CONFIG_LIST", "EDITOR", "VISUAL")}
    env.update({"OAI_CONFIG_LIST": str(cfg), "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"})
    return env


def spawn(args: list[str], folder: Path, env: dict[str, str]) -> pexpect.spawn:
    child = pexpect.spawn(sys.executable, ["-m", "redraft.cli", *args], cwd=str(folder), env=env,
                          encoding="utf-8", timeout=60, dimensions=(50, 200))
    return child


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus if child.exitstatus is not None else 128 + (child.signalstatus or 0)


def engineer_requests(srv: FakeOpenAI) -> list[dict[str, Any]]:
    return [r for r in srv.requests if "prompt" in requested_schema(r).get("properties", {})]


def only_run(folder: Path) -> Path:
    (run,) = list((folder / "runs").iterdir())
    return run


def transcript(run: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run / "transcript.jsonl").read_text().splitlines()]


def assert_each_message_once(run: Path, *, review: bool) -> None:
    """seq 1..N with no gap or repeat, and the round's turn order with no turn missing or doubled."""
    lines = transcript(run)
    assert [ln["seq"] for ln in lines] == list(range(1, len(lines) + 1))
    assert lines[0]["kind"] == "task" and [ln["kind"] for ln in lines].count("task") == 1
    prefix = ["proposal", "outputs", "review", "review", "panel", *(["reviewer"] if review else [])]
    n_rounds = max(ln["round"] for ln in lines)
    for r in range(1, n_rounds + 1):
        got = [ln["kind"] for ln in lines if ln["round"] == r and ln["kind"] != "task"]
        ended_by_reviewer = review and r == n_rounds and got == prefix
        assert ended_by_reviewer or got == [*prefix, "stop" if r == n_rounds else "decision"], (r, got)
    assert lines[-1]["type"] == "StopMessage"


def test_feedback_reaches_the_engineer_and_approve_ends_the_run(isolated: Path) -> None:
    with FakeOpenAI() as srv:
        env = setup(isolated, srv)
        child = spawn(["run", "refunds.yaml", "--review", "--no-cache"], isolated, env)
        child.expect("review> ")
        assert "── Review round 1 ──" in child.before and "clarity:" in child.before
        child.sendline("/help")
        child.expect("/approve")
        child.expect("review> ")
        child.sendline("/score 8")
        child.expect("score 8 recorded")
        child.expect("review> ")
        child.sendline(FEEDBACK)
        child.expect("review> ")  # round 2
        assert "Review round 2" in child.before
        child.sendline("/approve")
        assert finish(child) == 0
    pe = engineer_requests(srv)
    # Round 1 is the user's own prompt (no engineer call): the feedback on it reaches round 2's, the only request.
    assert len(pe) == 1 and FEEDBACK in pe[0]["messages"][-1]["content"]
    run = only_run(isolated)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stop_reason"] == "approved by the reviewer (round 2)"
    assert summary["best_round"] == 2 and len(summary["rounds"]) == 2
    rev = summary["reviewer"]
    assert [v["action"] for v in rev["rounds"]] == ["feedback", "approve"]
    assert rev["scores"][0]["reviewer"] == 8 and rev["scores"][0]["panel"] == 7.0
    assert rev["agreement"]["approvals"] == 1 and rev["agreement"]["approval_match_rate"] is not None
    assert_each_message_once(run, review=True)


def test_edit_makes_the_next_candidate(isolated: Path) -> None:
    editor = isolated / "editor.py"
    editor.write_text(f"import sys\nopen(sys.argv[1], 'w').write({EDITED!r})\n")
    with FakeOpenAI() as srv:
        env = setup(isolated, srv, rounds=2)
        env["EDITOR"] = f"{sys.executable} {editor}"
        child = spawn(["run", "refunds.yaml", "--review", "--no-cache"], isolated, env)
        child.expect("review> ")
        child.sendline("/edit")
        child.expect("review> ")
        child.sendline("")
        assert finish(child) == 0
    summary = json.loads((only_run(isolated) / "summary.json").read_text())
    assert summary["rounds"][1]["prompt"] == EDITED and summary["rounds"][1]["origin"] == "reviewer"
    executor_systems = [r["messages"][0]["content"] for r in srv.requests if not requested_schema(r) and r["messages"][0]["content"] == EDITED]
    assert len(executor_systems) == 2  # both inputs ran on the edited prompt
    # The edit replaced the engineer's turn in round 2, and round 1 (the user's own prompt) asks it nothing.
    assert engineer_requests(srv) == []


def test_edit_without_an_editor_takes_typed_lines_from_a_pipe(isolated: Path) -> None:
    with FakeOpenAI() as srv:
        env = setup(isolated, srv, rounds=2)
        proc = subprocess.run([sys.executable, "-m", "redraft.cli", "run", "refunds.yaml", "--review", "--no-cache"],
                              cwd=isolated, env=env, input=f"/edit\n{EDITED}\n.\n/stop\n", capture_output=True,
                              text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((only_run(isolated) / "summary.json").read_text())
    assert summary["rounds"][1]["prompt"] == EDITED
    assert summary["stop_reason"] == "stopped by the reviewer"


def test_unanswered_review_goes_on_after_the_timeout(isolated: Path) -> None:
    with FakeOpenAI() as srv:
        env = setup(isolated, srv, rounds=1)
        child = spawn(["run", "refunds.yaml", "--review", "--review-timeout", "0.5", "--no-cache"], isolated, env)
        child.expect(r"no answer in 0.5 s: going on")
        assert finish(child) == 0
    summary = json.loads((only_run(isolated) / "summary.json").read_text())
    assert summary["reviewer"]["rounds"][0]["action"] == "timeout"


def test_ctrl_c_at_the_review_prompt_then_resume(isolated: Path) -> None:
    with FakeOpenAI() as srv:
        env = setup(isolated, srv, rounds=2)
        child = spawn(["run", "refunds.yaml", "--review", "--no-cache"], isolated, env)
        child.expect("review> ")
        child.sendintr()
        child.expect("redraft resume ")
        assert finish(child) == 130
        assert "Traceback" not in child.before
        run = only_run(isolated)
        before = transcript(run)
        assert before[-1]["kind"] == "panel"  # everything up to the interrupted turn, nothing after
        child = spawn(["resume", str(run), "--review", "--no-cache"], isolated, env)
        child.expect("Review round 1")
        child.expect("review> ")
        child.sendline("")
        child.expect("review> ")
        child.sendline("")
        assert finish(child) == 0
    after = transcript(run)
    assert after[: len(before)] == before  # appended to, never rewritten
    assert_each_message_once(run, review=True)
    assert json.loads((run / "summary.json").read_text())["stop_reason"] == "round limit reached (2)"


def test_ctrl_c_during_a_model_call_then_resume(isolated: Path) -> None:
    slow = {"on": True}

    def slow_executor(request: dict[str, Any]):  # noqa: ANN202 - a fault
        if slow["on"] and not requested_schema(request):
            time.sleep(5)
        return None

    with FakeOpenAI() as srv:
        srv.fault_for = slow_executor
        env = setup(isolated, srv, rounds=2)
        child = spawn(["run", "refunds.yaml", "--no-cache"], isolated, env)
        child.expect("Prompt v1")
        time.sleep(0.5)  # the executor's calls are in flight now
        child.sendintr()
        child.expect("redraft resume ")
        assert finish(child) == 130
        slow["on"] = False
        run = only_run(isolated)
        assert [ln["kind"] for ln in transcript(run)] == ["task", "proposal"]
        assert "Stopped: interrupted (Ctrl-C)." in (run / "report.html").read_text()  # written on the stop, too
        proc = subprocess.run([sys.executable, "-m", "redraft.cli", "resume", str(run), "--no-cache", "--quiet"],
                              cwd=isolated, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert_each_message_once(run, review=False)


def test_killed_run_resumes(isolated: Path) -> None:
    with FakeOpenAI(latency=0.3) as srv:
        env = setup(isolated, srv, rounds=2)
        proc = subprocess.Popen([sys.executable, "-m", "redraft.cli", "run", "refunds.yaml", "--no-cache", "--quiet"],
                                cwd=isolated, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            runs = list((isolated / "runs").glob("*/transcript.jsonl")) if (isolated / "runs").exists() else []
            if runs and len(runs[0].read_text().splitlines()) >= 5:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        run = only_run(isolated)
        n_before = len(transcript(run))
        assert 5 <= n_before < 14
        # A killed run wrote no summary; its report is made from the checkpoint alone.
        report = subprocess.run([sys.executable, "-m", "redraft.cli", "report", str(run)], cwd=isolated, env=env,
                                capture_output=True, text=True, timeout=60)
        assert report.returncode == 0, report.stderr
        assert "Stopped: unfinished." in (run / "report.html").read_text() and not (run / "summary.json").exists()
        done = subprocess.run([sys.executable, "-m", "redraft.cli", "resume", str(run), "--no-cache", "--quiet"],
                              cwd=isolated, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert_each_message_once(run, review=False)
    assert json.loads((run / "summary.json").read_text())["stop_reason"] == "round limit reached (2)"


def test_resuming_a_finished_run_says_so(isolated: Path) -> None:
    with FakeOpenAI() as srv:
        env = setup(isolated, srv, rounds=1)
        subprocess.run([sys.executable, "-m", "redraft.cli", "run", "refunds.yaml", "--no-cache", "--quiet"],
                       cwd=isolated, env=env, capture_output=True, timeout=60, check=True)
        proc = subprocess.run([sys.executable, "-m", "redraft.cli", "resume", str(only_run(isolated))],
                              cwd=isolated, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "already finished (round limit reached (1))" in proc.stderr
    assert "a finished run is not continued" in proc.stderr


@pytest.mark.parametrize("bad", ["/score eleven", "/score 11", "/frobnicate"])
def test_bad_commands_are_explained_and_asked_again(isolated: Path, bad: str) -> None:
    with FakeOpenAI() as srv:
        env = setup(isolated, srv, rounds=1)
        proc = subprocess.run([sys.executable, "-m", "redraft.cli", "run", "refunds.yaml", "--review", "--no-cache"],
                              cwd=isolated, env=env, input=f"{bad}\n\n", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "/score takes a number from 1 to 10" in proc.stdout or "unknown command /frobnicate" in proc.stdout

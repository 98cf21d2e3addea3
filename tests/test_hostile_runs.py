"""Hostile text and broken pipes (issue 26): a metric that exits, an editor that is missing, a server that
reports impossible token counts, sends a huge reply, cuts JSON at max_tokens or answers as another model.
Each run ends with exit 0 or 2, says what happened in plain lines (no traceback, no library path), and
loses nothing: summary.json is written. Traffic only to the fake server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import ONE_MODEL, cli, one_model_config, write_scenario
from fakeserver import PROMPT, FakeOpenAI, completion_fault, is_proposal, smart_responder

SCENARIO = ONE_MODEL + "rounds: 1\n"
INPUTS = '''inputs:\n  - "Refund for shoes bought 10 days ago?"\n  - "Refund for a lamp bought 60 days ago?"\n'''
LABELED = SCENARIO.replace(
    INPUTS, "metric: {type: python, function: checks.py:score}\nsplit: {train: 4, dev: 2, test: 0}\n"
    "search: {drafts: 1, candidates: 1}\nexamples:\n"
    + "".join(f"  - {{input: 'Refund after {d} days?', target: {'approve' if d <= 30 else 'deny'}}}\n"
              for d in range(5, 35, 5)))


TASK = "Answer a refund request under the 30-day policy."  # the task text: round 1's prompt (no seed_prompt)


def is_execution(request: dict[str, Any]) -> bool:
    """Whether a request is the Task Executor's: round 1 runs the user's own prompt (the task text), later rounds
    the engineer's (smart_responder's PROMPT)."""
    return request["messages"][0]["content"] in (TASK, PROMPT)


def only_run(folder: Path) -> Path:
    (run,) = list((folder / "runs").iterdir())
    return run


def summary(folder: Path) -> dict[str, Any]:
    return json.loads((only_run(folder) / "summary.json").read_text(encoding="utf-8"))


def run_on(srv: FakeOpenAI, folder: Path, text: str = SCENARIO, *args: str) -> subprocess.CompletedProcess[str]:
    path = write_scenario(folder, text)
    return cli("run", str(path), "--config", one_model_config(folder, srv.base_url), "--no-cache", *args, cwd=folder)


def check_clean(proc: subprocess.CompletedProcess[str]) -> None:
    for bad in ("Traceback", "site-packages", "Warning:", "ValidationError", "asyncio"):
        assert bad not in proc.stderr, proc.stderr


def lines_with(text: str, needle: str) -> list[str]:
    return [ln for ln in text.splitlines() if needle in ln]


# --- 9. a python metric that calls sys.exit() or raises KeyboardInterrupt --------------------------------


def test_a_metric_calling_sys_exit_on_every_example_stops_the_run_with_exit_2(isolated: Path) -> None:
    (isolated / "checks.py").write_text("import sys\n\ndef score(output, target):\n    sys.exit(3)\n")
    with FakeOpenAI() as srv:
        proc = run_on(srv, isolated, LABELED)
    assert proc.returncode == 2, proc.stderr
    check_clean(proc)
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "failed on every example of round 1" in last
    assert "SystemExit: the metric called sys.exit(3)" in last
    assert len(proc.stderr.strip().splitlines()) < 10
    s = summary(isolated)
    assert s["stop_reason"].startswith("the metric failed on every example of round 1")
    assert "sys.exit(3)" in s["rounds"][0]["metric_error"]


def test_a_metric_raising_keyboard_interrupt_on_one_example_scores_it_0_and_the_run_finishes(isolated: Path) -> None:
    (isolated / "checks.py").write_text(
        "def score(output, target):\n"
        "    if '25 days' in output or '25 days' in target:\n        raise KeyboardInterrupt\n"
        "    return 1.0\n")
    # The executor echoes its input, so the metric can tell the examples apart.
    def echo(request: dict[str, Any]) -> str:
        if is_execution(request):
            return "answer to: " + str(request["messages"][-1]["content"])
        return smart_responder(request)

    with FakeOpenAI(echo) as srv:
        proc = run_on(srv, isolated, LABELED)
    assert proc.returncode == 0, proc.stderr
    check_clean(proc)
    assert "KeyboardInterrupt: raised by the metric itself" in proc.stdout
    s = summary(isolated)
    assert s["rounds"][0]["metric_errors"] == 1 and "KeyboardInterrupt" in s["rounds"][0]["metric_error"]
    assert (only_run(isolated) / "final_prompt.txt").is_file()


# --- 10. --review with EDITOR set to a program that does not exist ----------------------------------------


def test_a_missing_editor_falls_back_to_typed_lines(isolated: Path) -> None:
    edited = "EDITED BY REVIEWER: answer refund requests; refunds only within 30 days."
    with FakeOpenAI() as srv:
        path = write_scenario(isolated, ONE_MODEL + "rounds: 2\n")
        env = {k: v for k, v in os.environ.items() if k not in ("OAI_CONFIG_LIST", "VISUAL", "OPENAI_API_KEY")}
        env.update({"EDITOR": "no-such-editor-26", "NO_COLOR": "1"})
        proc = subprocess.run([sys.executable, "-m", "redraft.cli", "run", str(path), "--review", "--no-cache",
                               "--config", one_model_config(isolated, srv.base_url)],
                              cwd=isolated, env=env, input=f"/edit\n{edited}\n.\n/stop\n", capture_output=True,
                              text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    check_clean(proc)
    said = lines_with(proc.stdout, "cannot start the editor 'no-such-editor-26' (EDITOR): ")
    assert len(said) == 1 and said[0].endswith("type the new prompt instead, end with a line '.'"), proc.stdout
    s = summary(isolated)
    assert s["rounds"][1]["prompt"] == edited and s["stop_reason"] == "stopped by the reviewer"


# --- 11. impossible token counts -------------------------------------------------------------------------


def usage_everywhere(**usage: Any) -> Any:
    return lambda request: completion_fault(smart_responder(request), usage=usage)


def test_nan_token_counts_are_counted_as_0_with_one_warning(isolated: Path) -> None:
    with FakeOpenAI() as srv:
        srv.fault_for = usage_everywhere(prompt_tokens=float("nan"), completion_tokens=float("inf"))
        proc = run_on(srv, isolated)
    assert proc.returncode == 0, proc.stderr
    check_clean(proc)
    warned = lines_with(proc.stderr, "reported an impossible token count")
    assert warned == [f"redraft: the server at {srv.base_url} reported an impossible token count (nan); counted as 0"]
    assert "PydanticSerializationUnexpectedValue" not in proc.stderr
    usage = summary(isolated)["usage"]
    assert usage["prompt_tokens"] == 0 and usage["completion_tokens"] == 0 and usage["network_calls"] > 0


def test_a_negative_count_cannot_lower_the_spend_past_max_tokens(isolated: Path) -> None:
    with FakeOpenAI() as srv:
        srv.fault_for = usage_everywhere(prompt_tokens=-1_000_000, completion_tokens=1000)
        proc = run_on(srv, isolated, SCENARIO.replace("rounds: 1", "rounds: 3"), "--max-tokens", "5000")
    assert proc.returncode in (0, 2), proc.stderr
    check_clean(proc)
    assert len(lines_with(proc.stderr, "impossible token count (-1000000)")) == 1
    s = summary(isolated)
    assert s["stop_reason"].startswith("budget cap reached: max_tokens 5000")
    assert s["usage"]["prompt_tokens"] == 0 and 0 < s["usage"]["network_tokens"] <= 5000


def test_a_huge_count_is_unknown(isolated: Path) -> None:
    with FakeOpenAI() as srv:
        srv.fault_for = usage_everywhere(prompt_tokens=1e300)
        proc = run_on(srv, isolated)
    assert proc.returncode == 0, proc.stderr
    assert len(lines_with(proc.stderr, "impossible token count (1e+300); counted as 0")) == 1
    assert summary(isolated)["usage"]["prompt_tokens"] == 0


# --- 12. a huge reply --------------------------------------------------------------------------------------


def test_a_huge_reply_is_cut_and_says_so(isolated: Path) -> None:
    from redraft.llm.client import MAX_REPLY_CHARS

    huge = "x" * (MAX_REPLY_CHARS + 300_000)

    def respond(request: dict[str, Any]) -> str:
        return huge if is_execution(request) else smart_responder(request)

    with FakeOpenAI(respond) as srv:
        proc = run_on(srv, isolated)
    assert proc.returncode == 0, proc.stderr
    check_clean(proc)
    cut = lines_with(proc.stderr, f"characters long; cut at {MAX_REPLY_CHARS}")
    assert len(cut) == 2 and f"was {len(huge)} characters long" in cut[0]  # both inputs
    transcript = (only_run(isolated) / "transcript.jsonl").read_text(encoding="utf-8")
    assert transcript.count(f"\u2026 [reply cut at {MAX_REPLY_CHARS} characters]") >= 2
    total = sum(f.stat().st_size for f in only_run(isolated).rglob("*") if f.is_file())
    assert total < 20 * MAX_REPLY_CHARS  # the untouched run folder held the whole reply several times


# --- 13. JSON cut at max_tokens ------------------------------------------------------------------------------


def test_json_cut_at_max_tokens_says_so(isolated: Path) -> None:
    with FakeOpenAI() as srv:
        srv.fault_for = lambda r: completion_fault('{"', finish_reason="length",
                                                   usage={"completion_tokens": 1}) if is_proposal(r) else None
        proc = run_on(srv, isolated, SCENARIO.replace("rounds: 1", "rounds: 2"))  # round 1 asks the engineer nothing
    assert proc.returncode in (0, 2), proc.stderr
    check_clean(proc)
    text = proc.stdout + proc.stderr + (only_run(isolated) / "transcript.jsonl").read_text(encoding="utf-8")
    assert "the reply of prompt_engineer was cut at max_tokens (" in text
    assert "(450); raise max_tokens for that role (roles.prompt_engineer.max_tokens in the scenario, or max_tokens in its card" \
        in text
    assert "Expecting property name" not in text
    assert (only_run(isolated) / "summary.json").is_file()


# --- 14. a server that answers as another model ----------------------------------------------------------------


def test_another_model_name_gives_one_plain_note(isolated: Path) -> None:
    with FakeOpenAI() as srv:
        srv.fault_for = lambda r: completion_fault(smart_responder(r), model="served-other-name")
        proc = run_on(srv, isolated)
    assert proc.returncode == 0, proc.stderr
    check_clean(proc)
    notes = lines_with(proc.stderr, "served-other-name")
    assert notes == ["redraft: note: the server answers as model 'served-other-name' where 'fake-model' was asked "
                     "for; going on (local servers such as llama.cpp and vLLM do this)"], proc.stderr
    assert "mismatch" not in proc.stderr


def test_a_cut_reply_replays_from_the_cache_unchanged_and_silently(isolated: Path) -> None:
    from redraft.llm.client import MAX_REPLY_CHARS

    def respond(request: dict[str, Any]) -> str:
        return "y" * (MAX_REPLY_CHARS * 2) if is_execution(request) else smart_responder(request)

    path = write_scenario(isolated, SCENARIO)
    outs = []
    with FakeOpenAI(respond) as srv:
        cfg = one_model_config(isolated, srv.base_url)
        for _ in range(2):
            proc = cli("run", str(path), "--config", cfg, "--cache-dir", str(isolated / "cache"), cwd=isolated)
            assert proc.returncode == 0, proc.stderr
            outs.append(proc)
    assert len(lines_with(outs[0].stderr, "characters long; cut at")) == 2
    assert not lines_with(outs[1].stderr, "cut at")  # the cached reply is the cut one, within the cap
    runs = sorted((isolated / "runs").iterdir())
    outputs = [[m["content"] for m in json.loads("[" + ",".join((r / "transcript.jsonl").read_text().splitlines()) + "]")
                if m["source"] == "task_executor"] for r in runs]
    assert outputs[0] == outputs[1] and outputs[0][0].count("[reply cut at") == 2  # one message, both inputs


def test_redrafts_own_sigterm_still_goes_through_a_metric() -> None:
    import pytest

    from redraft.config.metrics import PythonMetric
    from redraft.errors import Terminated

    def stopped(output: str, target: str) -> float:
        raise Terminated()

    with pytest.raises(Terminated):
        PythonMetric(fn=stopped)("out", "target")
    assert PythonMetric(fn=lambda o, t: exit(0))("out", "target").error == "SystemExit: the metric called sys.exit(0)"

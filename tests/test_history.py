"""Past runs from the shell: `redraft runs` lists them, `redraft show RUN_DIR` prints one, finished or interrupted."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import SCENARIO, ScriptedModels, proposal, review, run, write_scenario
from test_compare import sentiment_models, sentiment_scenario

import redraft
from redraft import EndpointError, RunOptions, resume_run
from redraft.cli import main
from redraft.errors import RedraftError

V1, V2 = "You answer refund requests. Be polite.", "You answer refund requests within 30 days. Be polite."


# Round 1 is the user's own prompt, here the seed_prompt V1: the engineer is first asked in round 2.
SEEDED = SCENARIO.replace("rounds: 3", "rounds: 2").replace("inputs:", f"seed_prompt: {V1}\ninputs:")


def finished_run(isolated: Path) -> Path:
    path = write_scenario(isolated, SEEDED)
    models = ScriptedModels({"pe": [proposal(V2)], "exe": ["a", "b", "c", "d"],
                             "c1": [review(5, 5), review(8, 8)], "c2": [review(5, 6), review(8, 9)], "mod": ["add the rule"]})
    return run(path, models).run_dir.path


def interrupted_run(isolated: Path) -> tuple[Path, Path]:
    """A run whose model gives out in round 2: it stops resumably after round 1 (the scripts run dry)."""
    path = write_scenario(isolated, SEEDED, name="halted.yaml")
    models = ScriptedModels({"pe": [], "exe": ["a", "b"], "c1": [review(6, 6)], "c2": [review(6, 7)],
                             "mod": ["add the rule"]})
    before = set((isolated / "runs").iterdir()) if (isolated / "runs").is_dir() else set()
    with pytest.raises(EndpointError):
        run(path, models)
    (run_dir,) = set((isolated / "runs").iterdir()) - before
    return run_dir, path


def shell(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_runs_lists_a_finished_and_an_interrupted_run(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    done = finished_run(isolated)
    halted, _ = interrupted_run(isolated)
    code, out, _ = shell("runs", capsys=capsys)
    assert code == 0
    head, *rows = out.splitlines()
    assert head.split()[:7] == ["started", "scenario", "rounds", "best", "test", "status", "stopped"]
    by_folder = {row.split()[-1]: row for row in rows}
    assert set(by_folder) == {f"runs/{done.name}", f"runs/{halted.name}"}
    assert by_folder[f"runs/{done.name}"].split()[2:7] == ["refunds", "2", "8.00", "n/a", "finished"]
    assert "round limit reached (2)" in by_folder[f"runs/{done.name}"]
    assert by_folder[f"runs/{halted.name}"].split()[2:7] == ["refunds", "1", "6.00", "n/a", "resumable"]
    assert "error: " in by_folder[f"runs/{halted.name}"]


def test_show_prints_the_summary_and_the_final_prompt_of_a_finished_run(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    done = finished_run(isolated)
    capsys.readouterr()
    code, out, _ = shell("show", str(done), capsys=capsys)
    assert code == 0
    assert re.search(r"round +dev +train +panel +agree", out)
    assert "dev    each output scored 1-10 by the critics" in out and "panel  the critics' 1-10 scores per criterion" in out
    assert "best       round 2 (8.00)" in out and "stopped    round limit reached (2)" in out
    assert "status     finished" in out
    assert out.rstrip().endswith(V2) and "Final prompt (round 2):" in out


def test_show_an_interrupted_run_then_resume_it(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    halted, scenario = interrupted_run(isolated)
    code, out, _ = shell("show", str(halted), capsys=capsys)
    assert code == 0
    assert "stopped    error: " in out and f"status     resumable: redraft resume {halted}" in out
    assert "Final prompt (round 1):" in out and out.rstrip().endswith(V1)

    # Killed with -9 after its checkpoint: no summary.json was written; show reads the checkpoint.
    (halted / "summary.json").unlink()
    code, out, _ = shell("show", str(halted), capsys=capsys)
    assert code == 0 and "stopped    unfinished" in out and "status     resumable" in out
    assert "best       round 1 (6.00)" in out and out.rstrip().endswith(V1)

    models = ScriptedModels({"pe": [proposal(V2)], "exe": ["c", "d"], "c1": [review(8, 8)], "c2": [review(8, 9)], "mod": []})
    resume_run(halted, RunOptions(no_cache=True), models=models)
    code, out, _ = shell("runs", capsys=capsys)
    (row,) = out.splitlines()[1:]
    assert row.split()[2:7] == ["refunds", "2", "8.00", "n/a", "finished"]


def test_a_summary_older_than_the_checkpoint_is_not_trusted(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    halted, _ = interrupted_run(isolated)
    summary = json.loads((halted / "summary.json").read_text())
    summary["stop_reason"] = "a stale summary"
    (halted / "summary.json").write_text(json.dumps(summary))
    state = halted / "state.json"
    os.utime(halted / "summary.json", (state.stat().st_mtime - 60, state.stat().st_mtime - 60))
    _, out, _ = shell("show", str(halted), capsys=capsys)
    assert "stale" not in out and "stopped    unfinished" in out


def test_what_is_not_a_run_gets_a_clear_message(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (isolated / "runs" / "notes").mkdir(parents=True)
    code, out, _ = shell("runs", capsys=capsys)
    assert code == 0 and out.strip() == "no runs in runs"
    code, _, err = shell("show", str(isolated / "runs" / "notes"), capsys=capsys)
    assert code == 2 and "not a redraft run folder" in err and "Traceback" not in err
    code, _, err = shell("runs", "--runs-dir", "nowhere", capsys=capsys)
    assert code == 2 and "nowhere: no such folder" in err


# --- for scripts and CI: --json, and the same from Python --------------------------------------------------


def test_runs_json_lists_each_run_with_its_scores_and_nothing_else(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    done = finished_run(isolated)
    halted, _ = interrupted_run(isolated)
    (isolated / "runs" / "broken").mkdir()
    (isolated / "runs" / "broken" / "config.json").write_text("{")
    capsys.readouterr()
    code, out, err = shell("runs", "--json", capsys=capsys)
    assert code == 0
    listed = {Path(r["run_dir"]).name: r for r in json.loads(out)}  # stdout is the JSON alone
    assert set(listed) == {done.name, halted.name}
    first = listed[done.name]
    assert first["status"] == "finished" and first["scenario"] == "refunds" and first["stop_reason"] == "round limit reached (2)"
    summary = json.loads((done / "summary.json").read_text(encoding="utf-8"))
    assert [(r["round"], r["dev_score"], r["train_score"]) for r in first["rounds"]] == [
        (r["round"], r["dev_score"], r["train_score"]) for r in summary["rounds"]]
    assert first["rounds"][1]["dev_score"] == 8.0 and first["rounds"][1]["prompt"] == V2
    assert first["best_round"] == 2 and first["best_score"] == 8.0 and first["test"] is None
    assert first["final_prompt"] == V2 and "summary" not in first
    assert listed[halted.name]["status"] == "resumable" and listed[halted.name]["final_prompt"] == V1
    assert "broken" in err  # the unreadable folder is named on stderr, not in the JSON

    for folder in (isolated / "runs").iterdir():
        shutil.rmtree(folder)
    code, out, _ = shell("runs", "--json", capsys=capsys)
    assert code == 0 and json.loads(out) == []


def test_show_json_is_the_listed_run_with_its_whole_summary(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    halted, _ = interrupted_run(isolated)
    (halted / "summary.json").unlink()  # killed with -9: the summary comes from the checkpoint
    capsys.readouterr()
    code, out, _ = shell("show", str(halted), "--json", capsys=capsys)
    assert code == 0
    shown = json.loads(out)
    assert shown["status"] == "resumable" and shown["final_prompt"] == V1 and shown["best_score"] == 6.0
    assert shown["summary"]["stop_reason"] == "unfinished" and shown["summary"]["rounds"][0]["prompt"] == V1
    assert shown["summary"]["usage"]["calls"] > 0


def test_load_run_gives_the_final_prompt_the_executors_messages_and_the_scores(isolated: Path) -> None:
    examples = (V1 + "\n\nExamples:\n\nInput: Bought it 10 days ago, refund?\nAnswer: Yes, within 30 days.")
    path = write_scenario(isolated, SCENARIO.replace("rounds: 3", "rounds: 1").replace("inputs:", f"seed_prompt: {json.dumps(examples)}\ninputs:"))
    models = ScriptedModels({"pe": [], "exe": ["Yes.", "No."], "c1": [review(7, 8)], "c2": [review(8, 8)], "mod": []})
    past = redraft.load_run(run(path, models).run_dir.path)
    assert past.final_prompt == examples and past.status == "finished" and past.best_round == 1
    assert [(r.round, r.dev_score) for r in past.rounds] == [(1, 8.0)]
    # The messages are those the executor sent for an input: instruction, worked example as turns, the input.
    sent = models.requests("exe")[0]
    messages = past.messages(sent["user"])
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert [m["content"] for m in messages] == sent["messages"]
    assert messages[0]["content"] == V1 and messages[1:3] == [{"role": "user", "content": "Bought it 10 days ago, refund?"},
                                                             {"role": "assistant", "content": "Yes, within 30 days."}]
    # Its record survives a round trip through JSON; the messages need the run folder.
    again = redraft.PastRun.model_validate_json(past.model_dump_json())
    assert again.model_dump() == past.model_dump()
    with pytest.raises(RedraftError, match=r"load it with redraft.load_run\(RUN_DIR\)"):
        again.messages("x")


def test_load_run_gives_the_held_out_test_score(isolated: Path) -> None:
    outcome = run(sentiment_scenario(isolated, rounds=1), sentiment_models())
    summary = json.loads((outcome.run_dir.path / "summary.json").read_text(encoding="utf-8"))
    past = redraft.load_run(outcome.run_dir.path)
    assert past.test is not None and summary["test"]["n"] == past.test.n == 10
    assert (past.test.score, past.test.ci_low, past.test.ci_high) == (summary["test"]["score"], summary["test"]["ci_low"],
                                                                      summary["test"]["ci_high"])
    assert past.score_scale.startswith("0-1") and past.rounds[0].train_score == summary["rounds"][0]["train_score"]
    with pytest.raises(RedraftError, match="not a redraft run folder"):
        redraft.load_run(isolated)

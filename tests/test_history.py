"""Past runs from the shell: `redraft runs` lists them, `redraft show RUN_DIR` prints one, finished or interrupted."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from conftest import SCENARIO, ScriptedModels, proposal, review, run, write_scenario

from redraft import EndpointError, RunOptions, resume_run
from redraft.cli import main

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

"""Stopping redraft from outside: SIGTERM mid-run stops as cleanly as Ctrl-C (summary and final prompt
written, resumable), and Ctrl-C while it is still starting is one line, never a traceback."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from conftest import ONE_MODEL, one_model_config, start_cli, write_scenario
from fakeserver import FakeOpenAI

from redraft import RunOptions, resume_run


TASK = "Answer a refund request under the 30-day policy."  # the scenario's task: round 1's prompt (no seed_prompt)


def test_sigterm_mid_run_writes_the_summary_and_the_final_prompt(isolated: Path) -> None:
    path = str(write_scenario(isolated, ONE_MODEL + "rounds: 2\n"))
    with FakeOpenAI(latency=2.0) as srv:
        cfg = one_model_config(isolated, srv.base_url)
        proc = start_cli("run", path, "--config", cfg, "--no-cache", "--quiet", cwd=isolated)
        deadline = time.monotonic() + 120  # a loaded machine can be slow to start Python
        # Round 1's prompt is the user's own (the task text, no model call): its two executor calls are at work.
        while len(srv.hits) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(srv.hits) == 2, "the run did not get to its executor calls"
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 143, err
        assert "Traceback" not in err and "interrupted (SIGTERM)" in err and "redraft resume" in err
        (run_dir,) = list((isolated / "runs").iterdir())
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["stop_reason"] == "interrupted (SIGTERM)"
        assert (run_dir / "final_prompt.txt").read_text().strip() == TASK  # the user's own prompt, so far
        assert summary["usage"]["requests"] == len(srv.requests)  # the cut-off executor calls included
        srv.latency = 0.0
        out2 = resume_run(run_dir, RunOptions(config=cfg, no_cache=True))
    assert out2.summary.stop_reason == "round limit reached (2)"


@pytest.mark.parametrize("after", [0.4, 0.8, 1.2])
def test_ctrl_c_while_starting_is_one_line(isolated: Path, after: float) -> None:
    """Ctrl-C while Python loads redraft and its libraries, or reads the scenario: exit 130, one line."""
    path = str(write_scenario(isolated, ONE_MODEL + "rounds: 2\n"))
    with FakeOpenAI(latency=5.0) as srv:  # a run that got going would still be in its first call
        proc = start_cli("run", path, "--config", one_model_config(isolated, srv.base_url), "--quiet", cwd=isolated)
        time.sleep(after)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    if proc.returncode == -signal.SIGINT:
        return  # the signal came before Python itself was up: killed silently, as a shell shows it (130)
    assert proc.returncode == 130, err
    if (isolated / "runs").is_dir() and any((isolated / "runs").iterdir()):  # it had started after all
        assert "interrupted (Ctrl-C). The run is saved in" in err, err
        return
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("redraft: run folder:")]
    assert len(lines) == 1 and lines[0].startswith("redraft: interrupted (Ctrl-C)"), err


def test_ctrl_c_that_a_library_wrapped_in_its_own_error_is_still_ctrl_c(monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """pydantic-core building validators while redraft loads turns Ctrl-C into a SchemaError (seen in CI:
    'SchemaError: Error building "literal" validator: KeyboardInterrupt:'): exit 130, one line."""
    import pydantic_core

    from redraft import cli

    def loading(argv: list[str], debug: bool) -> int:
        raise pydantic_core.SchemaError('Error building "model" validator:\n  Error building "literal" validator:\n  KeyboardInterrupt: ')

    monkeypatch.setattr(cli, "_main", loading)
    assert cli.main(["run", "x.yaml"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "redraft: interrupted (Ctrl-C)." and "SchemaError" not in err

    def bug(argv: list[str], debug: bool) -> int:
        raise ValueError("a real bug")

    monkeypatch.setattr(cli, "_main", bug)
    assert cli.main(["run", "x.yaml"]) == 1  # any other error is still reported as unexpected
    assert "ValueError: a real bug (unexpected" in capsys.readouterr().err

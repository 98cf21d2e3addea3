"""`redraft resume` as a user meets it: the caps a run was started with, one process per run folder,
damaged checkpoints, an edited scenario, and a finished run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import SCENARIO, write_scenario
from fakeserver import FakeOpenAI

ONE_MODEL = SCENARIO.split("rounds: 3")[0]  # every role on the config's one model


def redraft(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "redraft.cli", *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=120)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("OAI_CONFIG_LIST", "OPENAI_API_KEY")}


def models_file(folder: Path, base_url: str) -> str:
    path = folder / "models.json"
    path.write_text(json.dumps([{"model": "fake-model", "base_url": base_url, "max_retries": 0, "timeout": 30}]))
    return str(path)


def only_run(root: Path) -> Path:
    (run,) = list((root / "runs").iterdir())
    return run


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def test_resume_keeps_the_caps_given_on_the_command_line(isolated: Path) -> None:
    path = str(write_scenario(isolated, ONE_MODEL + "rounds: 2\n"))
    with FakeOpenAI() as srv:
        cfg = models_file(isolated, srv.base_url)
        first = redraft("run", path, "--config", cfg, "--no-cache", "--quiet", "--max-calls", "3", cwd=isolated)
        assert first.returncode == 0, first.stderr
        run_dir = only_run(isolated)
        assert summary(run_dir)["stop_reason"] == "budget cap reached: max_calls 3 reached" and len(srv.requests) == 3
        assert json.loads((run_dir / "config.json").read_text())["budget"]["max_calls"] == 3

        again = redraft("resume", str(run_dir), "--config", cfg, "--no-cache", "--quiet", cwd=isolated)
        assert again.returncode == 0, again.stderr
        assert "budget caps: --max-calls 3 (from the run's command line)" in again.stderr
        assert len(srv.requests) == 3, "a plain resume spent past the run's --max-calls"
        assert summary(run_dir)["stop_reason"] == "budget cap reached: max_calls 3 reached"

        raised = redraft("resume", str(run_dir), "--config", cfg, "--no-cache", "--quiet", "--max-calls", "40",
                         cwd=isolated)
        assert raised.returncode == 0, raised.stderr
        assert "budget caps: --max-calls 40 (given now; was 3)" in raised.stderr
    assert summary(run_dir)["stop_reason"] == "round limit reached (2)"
    assert summary(run_dir)["usage"]["requests"] == len(srv.requests) <= 40
    assert json.loads((run_dir / "config.json").read_text())["budget"]["max_calls"] == 40

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


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "redraft.cli", *args], cwd=cwd, env=_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(check, what: str, timeout: float = 60.0) -> None:  # noqa: ANN001 - a callable returning bool
    import time

    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def seqs(run_dir: Path) -> list[int]:
    return [json.loads(line)["seq"] for line in (run_dir / "transcript.jsonl").read_text().splitlines()]


def test_one_process_owns_a_run_folder(isolated: Path) -> None:
    path = str(write_scenario(isolated, ONE_MODEL + "rounds: 2\n"))
    with FakeOpenAI(latency=1.0) as srv:
        cfg = models_file(isolated, srv.base_url)
        flags = ("--config", cfg, "--no-cache", "--quiet")
        holder = start("run", path, *flags, cwd=isolated)
        try:
            wait_for(lambda: (isolated / "runs").is_dir() and any((isolated / "runs").iterdir())
                     and (only_run(isolated) / "state.json").is_file() and len(srv.hits) >= 1, "the run to start")
            run_dir = only_run(isolated)
            # A resume while the original run is still going is refused, naming the run and the holder.
            second = redraft("resume", str(run_dir), *flags, cwd=isolated)
            assert second.returncode == 2
            assert second.stderr.strip().count("\n") == 0, second.stderr
            assert str(run_dir) in second.stderr and f"pid {holder.pid}" in second.stderr, second.stderr
            assert holder.poll() is None  # the holder was not disturbed
        finally:
            holder.kill()  # kill -9: the lock goes with the process
            holder.wait()
        assert seqs(run_dir) == list(range(1, len(seqs(run_dir)) + 1))

        # The killed run's lock is stale: a resume takes it over. Two resumes at once: one is refused.
        first = start("resume", str(run_dir), *flags, cwd=isolated)
        try:
            wait_for(lambda: (run_dir / "run.lock").read_text().strip() == str(first.pid), "the resume to own the run")
            other = redraft("resume", str(run_dir), *flags, cwd=isolated)
            assert other.returncode == 2 and f"pid {first.pid}" in other.stderr, other.stderr
            srv.latency = 0.0
            out, err = first.communicate(timeout=120)
        finally:
            first.kill()
            first.wait()
        assert first.returncode == 0, err
    assert summary(run_dir)["stop_reason"] == "round limit reached (2)"
    assert seqs(run_dir) == list(range(1, len(seqs(run_dir)) + 1)), "a seq number was written twice"

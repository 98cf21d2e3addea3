"""`redraft resume` as a user meets it: the caps a run was started with, one process per run folder,
damaged checkpoints, an edited scenario, and a finished run."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ONE_MODEL, cli, one_model_config, start_cli, write_scenario
from fakeserver import FakeOpenAI


def only_run(root: Path) -> Path:
    (run,) = list((root / "runs").iterdir())
    return run


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def stopped_after_round_one(isolated: Path, srv: FakeOpenAI) -> tuple[str, Path]:
    """A two-round run stopped by --max-calls 2 after round 1; its model config and run folder."""
    path = str(write_scenario(isolated, ONE_MODEL + "rounds: 2\n"))
    cfg = one_model_config(isolated, srv.base_url)
    # Round 1 runs the user's own prompt (no engineer call): its two executor calls fill a cap of 2 exactly.
    first = cli("run", path, "--config", cfg, "--no-cache", "--quiet", "--max-calls", "2", cwd=isolated)
    assert first.returncode == 0, first.stderr
    run_dir = only_run(isolated)
    assert summary(run_dir)["stop_reason"] == "budget cap reached: max_calls 2 reached" and len(srv.requests) == 2
    return cfg, run_dir


def test_resume_keeps_the_caps_given_on_the_command_line(isolated: Path) -> None:
    with FakeOpenAI() as srv:
        cfg, run_dir = stopped_after_round_one(isolated, srv)
        assert json.loads((run_dir / "config.json").read_text())["budget"]["max_calls"] == 2

        again = cli("resume", str(run_dir), "--config", cfg, "--no-cache", "--quiet", cwd=isolated)
        assert again.returncode == 0, again.stderr
        assert "budget caps: --max-calls 2 (from the run's command line)" in again.stderr
        assert len(srv.requests) == 2, "a plain resume spent past the run's --max-calls"
        assert summary(run_dir)["stop_reason"] == "budget cap reached: max_calls 2 reached"

        raised = cli("resume", str(run_dir), "--config", cfg, "--no-cache", "--quiet", "--max-calls", "40",
                         cwd=isolated)
        assert raised.returncode == 0, raised.stderr
        assert "budget caps: --max-calls 40 (given now; was 2)" in raised.stderr
    assert summary(run_dir)["stop_reason"] == "round limit reached (2)"
    assert summary(run_dir)["usage"]["requests"] == len(srv.requests) <= 40
    assert json.loads((run_dir / "config.json").read_text())["budget"]["max_calls"] == 40


def wait_for(check, what: str, timeout: float = 120.0) -> None:  # noqa: ANN001 - a callable returning bool
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
        cfg = one_model_config(isolated, srv.base_url)
        flags = ("--config", cfg, "--no-cache", "--quiet")
        holder = start_cli("run", path, *flags, cwd=isolated)
        try:
            wait_for(lambda: (isolated / "runs").is_dir() and any((isolated / "runs").iterdir())
                     and (only_run(isolated) / "state.json").is_file() and len(srv.hits) >= 1, "the run to start")
            run_dir = only_run(isolated)
            # A resume while the original run is still going is refused, naming the run and the holder.
            second = cli("resume", str(run_dir), *flags, cwd=isolated)
            assert second.returncode == 2
            assert second.stderr.strip().count("\n") == 0, second.stderr
            assert str(run_dir) in second.stderr and f"pid {holder.pid}" in second.stderr, second.stderr
            assert holder.poll() is None  # the holder was not disturbed
        finally:
            holder.kill()  # kill -9: the lock goes with the process
            holder.wait()
        assert seqs(run_dir) == list(range(1, len(seqs(run_dir)) + 1))

        # The killed run's lock is stale: a resume takes it over. Two resumes at once: one is refused.
        first = start_cli("resume", str(run_dir), *flags, cwd=isolated)
        try:
            wait_for(lambda: (run_dir / "run.lock").read_text().strip() == str(first.pid), "the resume to own the run")
            other = cli("resume", str(run_dir), *flags, cwd=isolated)
            assert other.returncode == 2 and f"pid {first.pid}" in other.stderr, other.stderr
            srv.latency = 0.0
            out, err = first.communicate(timeout=120)
        finally:
            first.kill()
            first.wait()
        assert first.returncode == 0, err
    assert summary(run_dir)["stop_reason"] == "round limit reached (2)"
    assert seqs(run_dir) == list(range(1, len(seqs(run_dir)) + 1)), "a seq number was written twice"


def stopped_run(isolated: Path, srv: FakeOpenAI, *, cap: int = 9) -> tuple[Path, str, str]:
    """A run stopped by its budget cap in round 2: (its folder, the scenario file, the models file)."""
    path = str(write_scenario(isolated, ONE_MODEL + "rounds: 2\nnoise_repeats: 0\n"))
    cfg = one_model_config(isolated, srv.base_url)
    proc = cli("run", path, "--config", cfg, "--no-cache", "--quiet", "--max-calls", str(cap), cwd=isolated)
    assert proc.returncode == 0, proc.stderr
    run_dir = only_run(isolated)
    assert summary(run_dir)["stop_reason"].startswith("budget cap reached")
    return run_dir, path, cfg


def snapshot(run_dir: Path) -> dict[str, bytes]:
    return {str(f.relative_to(run_dir)): f.read_bytes() for f in run_dir.rglob("*") if f.is_file() and f.name != "run.lock"}


DAMAGE = {"truncated": lambda b: b[: len(b) // 2], "empty": lambda b: b"", "{}": lambda b: b"{}",
          "binary": lambda b: bytes(range(256)) * 4}


def test_a_damaged_checkpoint_or_config_is_refused_with_what_is_left(isolated: Path) -> None:
    from redraft import RedraftError, RunOptions, resume_run

    with FakeOpenAI() as srv:
        run_dir, path, cfg = stopped_run(isolated, srv)
        lines = len((run_dir / "transcript.jsonl").read_text().splitlines())
        for name in ("state.json", "config.json"):
            good = (run_dir / name).read_bytes()
            for kind, damage in DAMAGE.items():
                (run_dir / name).write_bytes(damage(good))
                before = snapshot(run_dir)
                where = f"{name} {kind}"
                try:
                    resume_run(run_dir, RunOptions(config=cfg, no_cache=True))
                except RedraftError as exc:
                    message = str(exc)
                else:
                    raise AssertionError(f"{where}: resumed")
                assert "\n" not in message and message.startswith(f"{run_dir / name}: "), (where, message)
                assert "damaged" in message and "nothing was changed" in message, (where, message)
                assert f"transcript.jsonl ({lines} messages up to round 2, intact)" in message, (where, message)
                assert f"redraft run {path}" in message, (where, message)
                assert snapshot(run_dir) == before, f"{where}: the resume changed the run folder"
            (run_dir / name).write_bytes(good)
        # As a user meets it: exit 2, one line naming the file, no traceback.
        state = run_dir / "state.json"
        good = state.read_bytes()
        state.write_bytes(b"")
        proc = cli("resume", str(run_dir), "--config", cfg, "--no-cache", "--quiet", cwd=isolated)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith(f"error: {state}: the checkpoint is damaged (the file is empty)"), proc.stderr
        state.write_bytes(good)
        served = len(srv.requests)
        assert cli("resume", str(run_dir), "--config", cfg, "--no-cache", "--quiet", "--max-calls", "50",
                       cwd=isolated).returncode == 0  # repaired, it resumes
        assert len(srv.requests) > served


def test_resume_after_the_scenario_file_was_edited_says_what_differs_and_uses_the_run_s_copy(isolated: Path) -> None:
    with FakeOpenAI() as srv:
        run_dir, path, cfg = stopped_run(isolated, srv, cap=3)
        scenario = Path(path)
        scenario.write_text(scenario.read_text().replace("under the 30-day policy", "under the 90-day policy")
                            .replace("rounds: 2", "rounds: 5"))
        served = len(srv.requests)
        proc = cli("resume", str(run_dir), "--config", cfg, "--no-cache", "--quiet", "--max-calls", "50",
                       cwd=isolated)
        assert proc.returncode == 0, proc.stderr
    assert f"the scenario file {path} changed since this run started (task, rounds)" in proc.stderr, proc.stderr
    assert "resuming with the run's own copy" in proc.stderr
    later = json.dumps(srv.requests[served:])
    assert "30-day policy" in later and "90-day policy" not in later
    assert summary(run_dir)["stop_reason"] == "round limit reached (2)"


def test_a_finished_run_is_not_continued_and_the_help_says_so(isolated: Path) -> None:
    path = str(write_scenario(isolated, ONE_MODEL + "rounds: 1\n"))
    with FakeOpenAI() as srv:
        cfg = one_model_config(isolated, srv.base_url)
        assert cli("run", path, "--config", cfg, "--no-cache", "--quiet", cwd=isolated).returncode == 0
        run_dir = only_run(isolated)
        before = snapshot(run_dir)
        served = len(srv.requests)
        proc = cli("resume", str(run_dir), "--rounds", "3", "--config", cfg, "--no-cache", cwd=isolated)
        assert len(srv.requests) == served
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "already finished (round limit reached (1))" in proc.stderr
    assert "not continued, not even with --rounds" in proc.stderr and "test score" in proc.stderr
    assert f"redraft run {path} --rounds N" in proc.stderr
    assert snapshot(run_dir) == before
    helped = " ".join(cli("resume", "--help", cwd=isolated).stdout.split())
    assert "A finished run is not, not even with --rounds" in helped and "raise (or lower)" not in helped
    assert "test score (held-out, scored once) stay as they are" in helped


def test_a_run_begun_before_a_template_was_added_resumes_with_the_role_s_default(isolated: Path) -> None:
    with FakeOpenAI() as srv:
        cfg, run_dir = stopped_after_round_one(isolated, srv)
        # As an earlier redraft recorded the cards: without the engineer's revise_add and the moderator's compare.
        config = json.loads((run_dir / "config.json").read_text())
        del config["cards"]["prompt_engineer"]["templates"]["revise_add"]
        del config["cards"]["moderator"]["templates"]["compare"]
        config["cards"]["prompt_engineer"]["templates"]["revise"] += "\nKeep it short."  # the run's own wording
        (run_dir / "config.json").write_text(json.dumps(config))
        again = cli("resume", str(run_dir), "--config", cfg, "--no-cache", "--quiet", "--max-calls", "40", cwd=isolated)
        assert again.returncode == 0, again.stderr
        assert summary(run_dir)["stop_reason"] == "round limit reached (2)"
        revise = [r for r in srv.requests if "Keep it short." in json.dumps(r)]
        assert revise, "the run's own revise template was replaced"

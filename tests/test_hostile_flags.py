"""Hostile flags (issue 26, items 19, 22, 23): what a user sees is exit status 2 and one line naming the flag
and what was expected, no traceback, nothing written; a cache that cannot be written is refused before the run
(or comparison) folder exists; stale temp files in the cache are swept; labels in report.md are inert."""

from __future__ import annotations

import errno
import json
import os
import re
import time
from pathlib import Path

import pytest
from test_bad_input import check_one_clean_line, models, redraft, scenario, snapshot

from redraft.cli import main
from redraft.compare import MAX_REPEATS, check_repeats
from redraft.llm import cache as cache_module
from redraft.llm.cache import CallCache, sweep_stale_tmp
from redraft.records import ArmRepeat, ArmResult, ComparedExample, CompareResult
from redraft.report import render_markdown

VALID_ARMS = "valid arms: start, single_shot, best_of_n, best_of_n_demos, demos_only, sequential"


def refused(argv: list[str], folder: Path, capsys: pytest.CaptureFixture[str], *says: str) -> None:
    """main(argv) exits 2 with one clean line holding `says`, prints nothing on stdout and writes nothing."""
    before = snapshot(folder)
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    check_one_clean_line(code, err, says)
    assert not out.strip(), out
    assert snapshot(folder) == before, "a refused command wrote files"


# --- 22: empty-string paths ----------------------------------------------------------------------------

EMPTY = [
    (["run", "S", "--config", ""], "--config"),
    (["run", "S", "--gguf", ""], "--gguf"),
    (["run", "S", "--cache-dir", ""], "--cache-dir"),
    (["run", "S", "--runs-dir", ""], "--runs-dir"),
    (["run", "S", "--agents", ""], "--agents"),
    (["run", "S", "--dry-run", "--config", ""], "--config"),
    (["resume", "R", "--cache-dir", ""], "--cache-dir"),
    (["compare", "S", "--out", ""], "--out"),
    (["compare", "S", "--gguf", ""], "--gguf"),
    (["runs", "--runs-dir", ""], "--runs-dir"),
    (["validate", "S", "--config", ""], "--config"),
    (["validate", "S", "--agents", ""], "--agents"),
]


@pytest.mark.parametrize("argv,flag", EMPTY, ids=[" ".join(a) for a, _ in EMPTY])
def test_an_empty_path_flag_is_refused(isolated: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                       flag: str) -> None:
    path = scenario(isolated)
    argv = [path if a == "S" else str(isolated / "runs" / "r") if a == "R" else a for a in argv]
    refused(argv, isolated, capsys, f"{flag}: expected a path, got an empty string")


def test_an_empty_path_flag_in_a_process_of_its_own(isolated: Path) -> None:
    proc = redraft("run", scenario(isolated), "--config=", cwd=isolated)
    check_one_clean_line(proc.returncode, proc.stderr, ("error: --config: expected a path, got an empty string",))
    assert not (isolated / "runs").exists()


# --- 22: compare's --arms, --repeats, --out ---------------------------------------------------------------


@pytest.mark.parametrize("arms", ["", ",,", " , "])
def test_no_arm_is_refused_the_same_way(isolated: Path, capsys: pytest.CaptureFixture[str], arms: str) -> None:
    refused(["compare", "ticket_routing", "--arms", arms, "--config", models(isolated)], isolated, capsys,
            f"--arms: no arm given; {VALID_ARMS}")


def test_an_arm_given_twice_is_named(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    refused(["compare", "ticket_routing", "--arms", "single_shot,sequential,single_shot", "--config", models(isolated)],
            isolated, capsys, "--arms: the arm 'single_shot' is given twice", VALID_ARMS)


@pytest.mark.parametrize("n", ["1000000000", str(MAX_REPEATS + 1), "0", "-3"])
def test_repeats_out_of_range_says_the_range(isolated: Path, capsys: pytest.CaptureFixture[str], n: str) -> None:
    refused(["compare", "ticket_routing", "--repeats", n, "--config", models(isolated)], isolated, capsys,
            f"got {n}; expected 1 to {MAX_REPEATS}")


def test_repeats_at_the_bounds_pass() -> None:
    assert check_repeats(1) == 1 and check_repeats(MAX_REPEATS) == MAX_REPEATS


# --- 19: a cache that cannot be written -------------------------------------------------------------------


def cant_write(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    """The probe's write fails with `code`, as on a read-only or full file system (also when running as root)."""
    def fail(probe: Path) -> None:
        raise OSError(code, os.strerror(code), str(probe))

    monkeypatch.setattr(cache_module, "_write_probe", fail)


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC], ids=["read-only", "full"])
def test_run_refuses_an_unwritable_cache_before_the_run_folder(isolated: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    cant_write(monkeypatch, code)
    cache = isolated / "fs" / "cache"
    refused(["run", scenario(isolated), "--cache-dir", str(cache), "--config", models(isolated)], isolated, capsys,
            f"--cache-dir {cache}: cannot write there ({os.strerror(code)})")
    assert not (isolated / "runs").exists() and not (isolated / "fs").exists()  # the folders it made are gone again


def test_run_refuses_a_read_only_cache_folder(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into a 0o500 folder; the read-only cases above simulate it")
    locked = isolated / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        refused(["run", scenario(isolated), "--cache-dir", str(locked / "calls"), "--config", models(isolated)],
                isolated, capsys, f"--cache-dir {locked / 'calls'}: cannot write there (Permission denied)")
    finally:
        locked.chmod(0o700)
    assert not (isolated / "runs").exists()


def test_the_default_cache_unwritable_says_how_to_go_on(isolated: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    cant_write(monkeypatch, errno.EROFS)
    refused(["run", scenario(isolated), "--config", models(isolated)], isolated, capsys,
            "the reply cache", "cannot write there (Read-only file system)", "--cache-dir", "--no-cache")


def test_compare_refuses_an_unwritable_cache_before_its_folder(isolated: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    cant_write(monkeypatch, errno.EROFS)
    out, cache = isolated / "cmp", isolated / "cache"
    refused(["compare", "ticket_routing", "--out", str(out), "--cache-dir", str(cache), "--config", models(isolated)],
            isolated, capsys, f"--cache-dir {cache}: cannot write there (Read-only file system)")


def test_a_writable_cache_is_left_as_it_was(isolated: Path) -> None:
    cache = isolated / "cache"
    cache_module.check_writable(cache, "--cache-dir")
    assert cache.is_dir() and not list(cache.iterdir())  # made, and the probe gone


# --- 19: stale temp files ---------------------------------------------------------------------------------


def aged(path: Path, seconds: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{half a repl", encoding="utf-8")
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_opening_the_cache_sweeps_stale_temp_files_and_keeps_fresh_ones(isolated: Path) -> None:
    root = isolated / "cache"
    stale = aged(root / "ab" / f"ab{'0' * 62}.json.4242.tmp", 2 * 3600)
    probe = aged(root / ".probe.4242.deadbeef.tmp", 2 * 3600)
    fresh = aged(root / "cd" / f"cd{'0' * 62}.json.{os.getpid()}.tmp", 60)
    entry = aged(root / "ef" / f"ef{'0' * 62}.json", 2 * 3600)  # an old reply is a reply, not litter
    CallCache(root)
    assert not stale.exists() and not probe.exists()
    assert fresh.exists() and entry.exists()
    assert sweep_stale_tmp(root) == 0


def test_a_failed_put_leaves_no_temp_file(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = isolated / "cache"
    cache = CallCache(root)
    key = CallCache.key("m", [{"role": "user", "content": "hi"}], {})

    def disk_full(path: Path, text: str) -> None:
        path.with_name(f"{path.name}.{os.getpid()}.tmp").write_text(text[:3], encoding="utf-8")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cache_module, "write_atomic", disk_full)
    with pytest.raises(OSError):
        cache.put(key, {"reply": "hello"})
    assert not list(root.rglob("*.tmp"))


# --- 23: labels in report.md --------------------------------------------------------------------------------

HTML = "<img src=x onerror=alert(1)>"
LINK = "[click](javascript:alert(1))"


def hostile_result() -> CompareResult:
    """A comparison whose every free-text label (metric, model, majority answer, examples, outputs) holds HTML."""
    repeat = ArmRepeat(seed=1, prompt=f"Answer. {HTML}", score=1.0, per_example=[1.0], outputs=[f"out {HTML}"])
    arm = ArmResult(name="single_shot", score=1.0, ci_low=1.0, ci_high=1.0, repeats=[repeat], calls=1, tokens=1,
                    seconds=1.0)
    return CompareResult.model_validate(dict(
        scenario=f"s {HTML}", metric=f"m {HTML} {LINK}", repeats=1, arms={"single_shot": arm}, differences=[],
        verdict=f"v {HTML}", examples=[ComparedExample(id=f"e {HTML}", input=f"in {HTML}", target=f"t {HTML}")],
        created="2025-01-02T03:04:05Z", majority={"answer": f"{HTML}\n# heading", "score": 0.5},
        models={"default": {"tag": "default", "model": f"{HTML} {LINK}", "api_type": "openai", "temperature": 0.7,
                            "max_tokens": 256}},
    ))


def test_report_md_holds_no_raw_html_outside_code_blocks() -> None:
    md = render_markdown(hostile_result())
    outside = re.sub(r"^(`{3,})[^\n]*\n.*?^\1$", "", md, flags=re.S | re.M)  # fenced blocks show text as it is
    assert "<img" not in outside and "&lt;img src=x onerror=alert(1)&gt;" in outside
    assert "](javascript:" not in outside.replace("\\]", "")  # no link is formed
    assert not re.search(r"^# heading", md, re.M)  # a label's line break starts nothing
    assert f"Answer. {HTML}" in md  # the prompt, in its fenced block, exactly as the model will see it


def test_write_reports_report_md_is_inert(isolated: Path) -> None:
    from redraft.report import write_reports

    paths = write_reports(hostile_result(), isolated / "out")
    text = paths["markdown"].read_text(encoding="utf-8")
    assert "<img" not in re.sub(r"^(`{3,})[^\n]*\n.*?^\1$", "", text, flags=re.S | re.M)
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["metric"].startswith("m <img")

"""Hostile files where redraft expects a small text file (issue 26, items 15 and 21): a device that never ends
(/dev/zero), a named pipe that blocks whoever opens it, a file too large to read whole, and a data file that is
a link out of the scenario's folder. Each is told in one clean line, at once; the link, in a warning."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SCENARIO, cli_env, write_scenario

from redraft.cli import main

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo") or not Path("/dev/zero").exists(),
                                reason="needs named pipes and /dev/zero")

SIMPLE = SCENARIO.split("roles:")[0]
INPUTS = '''inputs:\n  - "Refund for shoes bought 10 days ago?"\n  - "Refund for a lamp bought 60 days ago?"\n'''
# Labeled: a dataset file and a metric, for the dataset keys' links.
DATASET = ("dataset:\n  file: rows.jsonl\n  split: {train: 1, dev: 1, test: 0}\n"
           "metric: {type: exact}\n")


def redraft(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`redraft ARGS` in a process of its own: a read that blocks fails the test after 20 s instead of hanging it."""
    return subprocess.run([sys.executable, "-m", "redraft.cli", *args], cwd=cwd, env=cli_env() | (env or {}),
                          capture_output=True, text=True, timeout=20)


def check_one_clean_line(proc: subprocess.CompletedProcess[str], *says: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for needle in says:
        assert needle in lines[0], lines[0]


def scenario(folder: Path, text: str = SIMPLE, name: str = "refunds.yaml") -> str:
    return str(write_scenario(folder, text, name))


def with_inputs_file(folder: Path, name: str) -> str:
    return scenario(folder, SIMPLE.replace(INPUTS, f"inputs_file: {name}\n"))


# --- item 15: devices and pipes, everywhere redraft reads a file ------------------------------------------


def test_dev_zero_as_the_scenario(isolated: Path) -> None:
    check_one_clean_line(redraft("validate", "/dev/zero", cwd=isolated),
                         "/dev/zero: is not a regular file (a character device)", "expected a file holding a YAML scenario")


def test_a_pipe_as_the_scenario(isolated: Path) -> None:
    os.mkfifo(isolated / "pipe.yaml")
    check_one_clean_line(redraft("validate", "pipe.yaml", cwd=isolated),
                         "pipe.yaml: is not a regular file (a named pipe)", "expected a file holding a YAML scenario")


@pytest.mark.parametrize("target", ["/dev/zero", "pipe"])
def test_dev_zero_or_a_pipe_as_config(isolated: Path, target: str) -> None:
    if target == "pipe":
        os.mkfifo(isolated / target)
    check_one_clean_line(redraft("validate", scenario(isolated), "--config", target, cwd=isolated),
                         f"{target}: is not a regular file", "expected a file holding a JSON list of models (--config)")


def test_a_pipe_as_oai_config_list(isolated: Path) -> None:
    os.mkfifo(isolated / "models.pipe")
    check_one_clean_line(redraft("validate", scenario(isolated), cwd=isolated, env={"OAI_CONFIG_LIST": "models.pipe"}),
                         "models.pipe: is not a regular file (a named pipe)", "($OAI_CONFIG_LIST)")


def test_a_pipe_as_the_local_oai_config_list(isolated: Path) -> None:
    os.mkfifo(isolated / "OAI_CONFIG_LIST")
    check_one_clean_line(redraft("validate", scenario(isolated), cwd=isolated),
                         "OAI_CONFIG_LIST: is not a regular file (a named pipe)", "(./OAI_CONFIG_LIST)")


def test_a_card_linked_to_dev_zero(isolated: Path) -> None:
    (isolated / "agents").mkdir()
    (isolated / "agents" / "zero.yaml").symlink_to("/dev/zero")
    check_one_clean_line(redraft("validate", scenario(isolated), "--agents", "agents", cwd=isolated),
                         "zero.yaml: is a link to /dev/zero, which is not a regular file (a character device)",
                         "expected a file holding a YAML agent card")


def test_a_pipe_as_a_card(isolated: Path) -> None:
    (isolated / "agents").mkdir()
    os.mkfifo(isolated / "agents" / "pipe.yaml")
    check_one_clean_line(redraft("validate", scenario(isolated), "--agents", "agents", cwd=isolated),
                         "pipe.yaml: is not a regular file (a named pipe)", "a YAML agent card")


def test_a_pipe_in_the_scenarios_folder_is_named_not_opened(isolated: Path) -> None:
    (isolated / "scenarios").mkdir()
    os.mkfifo(isolated / "scenarios" / "pipe.yaml")
    scenario(isolated / "scenarios", name="good.yaml")
    listed = redraft("scenarios", cwd=isolated)
    assert listed.returncode == 0, listed.stderr
    assert "Traceback" not in listed.stderr
    assert "(broken: scenarios/pipe.yaml: is not a regular file (a named pipe)" in listed.stdout
    assert "Reply to refund requests." in listed.stdout  # the good one beside it is still listed
    check_one_clean_line(redraft("validate", "pipe", cwd=isolated), "pipe.yaml: is not a regular file (a named pipe)")


def test_a_pipe_as_dotenv(isolated: Path) -> None:
    os.mkfifo(isolated / ".env")
    check_one_clean_line(redraft("validate", scenario(isolated), cwd=isolated),
                         ".env: is not a regular file (a named pipe)", "expected a file holding UTF-8 text")


def test_a_pipe_as_the_inputs_file(isolated: Path) -> None:
    os.mkfifo(isolated / "inputs.txt")
    check_one_clean_line(redraft("validate", with_inputs_file(isolated, "inputs.txt"), cwd=isolated),
                         "inputs_file: is not a regular file (a device or a pipe)")


# --- item 15: files too large to read whole ----------------------------------------------------------------


def sparse(path: Path, megabytes: int) -> None:
    """A file that says it is this large without using the disk."""
    with path.open("wb") as fh:
        fh.truncate(megabytes * 2**20)


def test_a_scenario_over_the_cap(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sparse(isolated / "huge.yaml", 11)
    code = main(["validate", "huge.yaml"])
    check_one_clean_line(subprocess.CompletedProcess([], code, "", capsys.readouterr().err),
                         "huge.yaml: the file is 11.0 MB", "expected a file holding a YAML scenario of at most 10 MB")


def test_an_inputs_file_over_the_cap(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sparse(isolated / "huge.txt", 101)
    code = main(["validate", with_inputs_file(isolated, "huge.txt")])
    check_one_clean_line(subprocess.CompletedProcess([], code, "", capsys.readouterr().err),
                         "inputs_file: the file is 101.0 MB, more than the 100 MB redraft reads", "huge.txt")


# --- item 21: a data file that is a link out of the scenario's folder --------------------------------------


def validate(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[str, list[str]]:
    """Validate in-process (nothing here can block): stdout, and stderr's lines."""
    code = main(["validate", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("OK: ")
    return out, [line for line in err.splitlines() if line.strip()]


def test_an_inputs_file_linked_out_of_the_folder_is_warned_about(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (isolated / "elsewhere").mkdir()
    secret = isolated / "elsewhere" / "secret.txt"
    secret.write_text("root:x:0:0\n" * 25, encoding="utf-8")
    (isolated / "job").mkdir()
    (isolated / "job" / "inputs.txt").symlink_to(secret)
    out, err = validate([with_inputs_file(isolated / "job", "inputs.txt")], capsys)
    assert "25 inputs" in out
    assert err == [f"warning: inputs_file: inputs.txt is a link to {secret}, outside the scenario's folder "
                   f"({isolated / 'job'})"]


def test_a_dataset_file_linked_out_of_the_folder_is_warned_about(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (isolated / "elsewhere").mkdir()
    rows = isolated / "elsewhere" / "rows.jsonl"
    rows.write_text('{"input": "a", "target": "x"}\n{"input": "b", "target": "y"}\n', encoding="utf-8")
    (isolated / "job").mkdir()
    (isolated / "job" / "rows.jsonl").symlink_to(rows)
    _, err = validate([scenario(isolated / "job", SIMPLE.replace(INPUTS, DATASET))], capsys)
    assert len(err) == 1 and err[0].startswith(f"warning: dataset.file: rows.jsonl is a link to {rows}, outside"), err


def test_a_link_inside_the_folder_and_a_plain_path_outside_are_not_warned_about(
        isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (isolated / "job" / "data").mkdir(parents=True)
    (isolated / "job" / "data" / "real.txt").write_text("one\ntwo\n", encoding="utf-8")
    (isolated / "job" / "inputs.txt").symlink_to(Path("data") / "real.txt")
    _, err = validate([with_inputs_file(isolated / "job", "inputs.txt")], capsys)
    assert err == []
    (isolated / "shared.txt").write_text("one\n", encoding="utf-8")  # ../shared.txt says where it is: no link
    _, err = validate([with_inputs_file(isolated / "job", "../shared.txt")], capsys)
    assert err == []

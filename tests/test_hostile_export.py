"""Hostile files around a finished run (issue 26: 16-18, 20): `export --out` onto an existing file, a link, a
folder, a missing folder or a full disk; a damaged summary.json or state.json; the files a killed run lacks.
What a user sees: the exit status, one clean line naming the path and what was expected, no traceback, and
the old file (or a link's target) left as it was."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from test_export import rubric_run

from redraft.cli import main

Capture = pytest.CaptureFixture[str]


@pytest.fixture
def run_dir(isolated: Path) -> Path:
    """A finished one-round run, made offline on scripted models."""
    return rubric_run(isolated)


@pytest.fixture
def prompt(run_dir: Path) -> str:
    """The run's export as text: its final prompt, as the run wrote it."""
    text = (run_dir / "final_prompt.txt").read_text(encoding="utf-8")
    assert text.strip()
    return text


def redraft(capsys: Capture, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error(code: int, err: str, *says: str) -> str:
    """The refusal: exit 2 and one line on stderr holding every needle, no traceback."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and "unexpected" not in err, err
    for needle in says:
        assert needle in lines[0], lines[0]
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# --- 16: an existing file, a link, a full disk ---------------------------------------------------------


def test_an_existing_file_is_kept_unless_force(run_dir: Path, isolated: Path, capsys: Capture, prompt: str) -> None:
    old = isolated / "prompt.txt"
    old.write_text("my own notes\n")
    code, out, err = redraft(capsys, "export", str(run_dir), "--out", "prompt.txt")
    one_error(code, err, "prompt.txt already exists; pass --force to replace it")
    assert old.read_text() == "my own notes\n" and not out
    code, _, err = redraft(capsys, "export", str(run_dir), "--out", "prompt.txt", "--force")
    assert code == 0, err
    assert old.read_text() == prompt and leftovers(isolated) == []


def test_a_new_file_is_written_whole_with_the_usual_permissions(run_dir: Path, isolated: Path, capsys: Capture,
                                                                 prompt: str) -> None:
    code, _, err = redraft(capsys, "export", str(run_dir), "--out", "new.json", "--format", "messages")
    assert code == 0 and err.strip() == "wrote new.json", err
    assert json.loads((isolated / "new.json").read_text())["messages"][0]["content"] == prompt.rstrip()
    umask = os.umask(0)
    os.umask(umask)
    assert (isolated / "new.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_replaced_file_keeps_its_permissions(run_dir: Path, isolated: Path, capsys: Capture, prompt: str) -> None:
    old = isolated / "private.txt"
    old.write_text("old\n")
    old.chmod(0o600)
    assert redraft(capsys, "export", str(run_dir), "--out", "private.txt", "--force")[0] == 0
    assert old.stat().st_mode & 0o777 == 0o600 and old.read_text() == prompt


@pytest.mark.parametrize("force", [False, True], ids=["refused", "--force"])
def test_a_full_disk_leaves_the_old_file_whole(run_dir: Path, isolated: Path, capsys: Capture,
                                               monkeypatch: pytest.MonkeyPatch, force: bool) -> None:
    old = isolated / "prompt.txt"
    old.write_text("the previous export\n")
    if not force:
        old.unlink()  # a new file: nothing is left behind, not even an empty one

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full)
    code, _, err = redraft(capsys, "export", str(run_dir), "--out", "prompt.txt", *(["--force"] if force else []))
    kept = "prompt.txt was left as it was" if force else "nothing was written"
    one_error(code, err, "--out prompt.txt: cannot write it (No space left on device)", kept)
    assert (old.read_text() == "the previous export\n") if force else not old.exists()
    assert leftovers(isolated) == []


def test_a_link_is_refused_and_its_target_untouched(run_dir: Path, isolated: Path, capsys: Capture) -> None:
    target = isolated / "precious.txt"
    target.write_text("not yours\n")
    (isolated / "out.txt").symlink_to(target)
    code, _, err = redraft(capsys, "export", str(run_dir), "--out", "out.txt")
    one_error(code, err, "--out out.txt: is a link; give the file itself")
    assert target.read_text() == "not yours\n" and (isolated / "out.txt").is_symlink()


def test_force_replaces_the_link_itself_not_its_target(run_dir: Path, isolated: Path, capsys: Capture, prompt: str) -> None:
    target = isolated / "precious.txt"
    target.write_text("not yours\n")
    (isolated / "out.txt").symlink_to(target)
    code, _, err = redraft(capsys, "export", str(run_dir), "--out", "out.txt", "--force")
    assert code == 0, err
    assert not (isolated / "out.txt").is_symlink() and (isolated / "out.txt").read_text() == prompt
    assert target.read_text() == "not yours\n"


def test_a_dangling_link_is_refused_and_never_creates_its_target(run_dir: Path, isolated: Path, capsys: Capture, prompt: str) -> None:
    target = isolated / "elsewhere" / "planted.txt"
    (isolated / "elsewhere").mkdir()
    (isolated / "out.txt").symlink_to(target)
    code, _, err = redraft(capsys, "export", str(run_dir), "--out", "out.txt")
    one_error(code, err, "--out out.txt: is a link; give the file itself")
    assert not target.exists()
    assert redraft(capsys, "export", str(run_dir), "--out", "out.txt", "--force")[0] == 0
    assert not target.exists() and not (isolated / "out.txt").is_symlink()
    assert (isolated / "out.txt").read_text() == prompt


# --- 17: a missing folder, a folder, something that is not a file ---------------------------------------


@pytest.mark.parametrize("out, says", [
    ("nofolder/x.txt", "--out nofolder/x.txt: folder nofolder does not exist"),
    ("FOLDER", "--out FOLDER: is a folder; expected a file name"),
    ("plain.txt/x.txt", "--out plain.txt/x.txt: folder plain.txt is not a folder"),
    ("new/", "--out new/: ends with '/'; expected a file name"),
    ("", "--out: expected a file name, got nothing"),
    ("/dev/null", "--out /dev/null: is not a regular file"),
], ids=["missing folder", "a folder", "a file as folder", "trailing slash", "empty", "a device"])
def test_an_out_that_is_no_file_name_is_one_line(run_dir: Path, isolated: Path, capsys: Capture, out: str, says: str) -> None:
    (isolated / "plain.txt").write_text("x\n")
    out = out.replace("FOLDER", str(isolated))
    says = says.replace("FOLDER", str(isolated))
    before = sorted(p.name for p in isolated.iterdir())
    code, stdout, err = redraft(capsys, "export", str(run_dir), "--out", out, "--force")
    one_error(code, err, says)
    assert sorted(p.name for p in isolated.iterdir()) == before and not stdout


# --- 18: a damaged summary.json, a damaged state.json -----------------------------------------------------


DAMAGE = {
    "truncated": lambda text: text[: len(text) // 2],
    "wrong shape": lambda text: json.dumps({**json.loads(text), "rounds": "three"}),
    "empty": lambda text: "",
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_summary_is_rebuilt_from_the_checkpoint(run_dir: Path, capsys: Capture, damage: str, prompt: str) -> None:
    summary = run_dir / "summary.json"
    good = json.loads(summary.read_text())
    summary.write_text(DAMAGE[damage](summary.read_text()))
    damaged = summary.read_text()

    code, out, err = redraft(capsys, "export", str(run_dir))
    assert code == 0 and out == prompt, err
    code, out, err = redraft(capsys, "show", str(run_dir))
    assert code == 0 and "Traceback" not in err, err
    assert prompt.strip() in out and "finished" in out
    (note,) = err.strip().splitlines()
    assert note.startswith(f"redraft: {summary}: damaged (") and "rebuilt from state.json" in note, note
    assert summary.read_text() == damaged, "show wrote to the run folder"

    code, out, err = redraft(capsys, "report", str(run_dir))
    assert code == 0 and "Traceback" not in err and "rebuilt from state.json and written again" in err, err
    rebuilt = json.loads(summary.read_text())
    assert rebuilt["final_prompt"] == good["final_prompt"] and rebuilt["rounds"] == good["rounds"]
    assert redraft(capsys, "show", str(run_dir))[2] == ""  # whole again: no note


@pytest.mark.parametrize("command", ["show", "export", "report"])
def test_a_damaged_checkpoint_is_one_line_naming_it(run_dir: Path, capsys: Capture, command: str) -> None:
    state = run_dir / "state.json"
    state.write_text(state.read_text()[:100])
    code, out, err = redraft(capsys, command, str(run_dir))
    line = one_error(code, err, f"{state}: the checkpoint is damaged (not valid JSON: cut short, or overwritten)")
    assert "Still usable: transcript.jsonl" in line and "final_prompt.txt" in line and not out


# --- 20: the files a killed run lacks ---------------------------------------------------------------------


def test_show_names_only_the_files_there(run_dir: Path, capsys: Capture) -> None:
    line = next(x for x in redraft(capsys, "show", str(run_dir))[1].splitlines() if x.startswith("files"))
    assert line.endswith("(report.html, transcript.jsonl, summary.json, final_prompt.txt, prompts/)"), line
    for name in ("summary.json", "final_prompt.txt", "report.html"):  # as kill -9 before the run's end leaves it
        (run_dir / name).unlink()
    code, out, err = redraft(capsys, "show", str(run_dir))
    assert code == 0 and err == "", err
    line = next(x for x in out.splitlines() if x.startswith("files"))
    assert line == f"files      {run_dir}/  (transcript.jsonl, prompts/)", line

"""Past runs read back from their folders: the list under a runs folder, and one run's summary, finished
or interrupted (Ctrl-C, a crash, `kill -9`), as its last checkpoint left it (runs.read_run)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from . import runs
from ..errors import RedraftError

PastRun = runs.RunRecord


def read_run(path: str | Path) -> PastRun:
    """One run folder: config.json, state.json and, when it is current, summary.json."""
    if not Path(path, "config.json").is_file() or not Path(path, "state.json").is_file():
        raise RedraftError(f"{path}: not a redraft run folder (it needs config.json and state.json; "
                           "`redraft runs` lists the run folders)")
    try:
        return runs.read_run(path)
    except (ValidationError, ValueError) as exc:
        raise RedraftError(f"{path}: the run's files cannot be read ({_first_line(exc)})") from None


def list_runs(runs_dir: str | Path) -> tuple[list[PastRun], list[tuple[Path, str]]]:
    """The runs under a folder, oldest first, and the run folders that could not be read (with why)."""
    root = Path(runs_dir)
    if not root.is_dir():
        raise RedraftError(f"{runs_dir}: no such folder (runs go to ./runs, or to --runs-dir DIR of `redraft run`)")
    found, broken = [], []
    for path in sorted(p for p in root.iterdir() if p.is_dir()):
        if not (path / "config.json").is_file():
            continue  # not a run folder
        try:
            found.append(read_run(path))
        except RedraftError as exc:
            broken.append((path, str(exc)))
    return found, broken


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

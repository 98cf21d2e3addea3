"""Past runs read back from their folders: the list under a runs folder, and one run's summary, finished
or interrupted (Ctrl-C, a crash, `kill -9`), as its last checkpoint left it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from .errors import RedraftError
from .results import Summary
from .runs import Checkpoint, RunConfig, RunDir, make_summary, run_finished

Status = Literal["finished", "resumable"]


@dataclass
class PastRun:
    """A run folder read back: its configuration, its last checkpoint and its summary."""

    run: RunDir
    config: RunConfig
    checkpoint: Checkpoint
    summary: Summary  # summary.json when it is as new as the checkpoint, else made from the checkpoint

    @property
    def status(self) -> Status:
        """finished, or resumable with `redraft resume`."""
        return "finished" if run_finished(self.checkpoint.run, self.config.splits) else "resumable"


def read_run(path: str | Path) -> PastRun:
    """One run folder: config.json, state.json and, when it is current, summary.json."""
    run = RunDir(Path(path))
    if not run.config_path.is_file() or not run.state_path.is_file():
        raise RedraftError(f"{path}: not a redraft run folder (it needs config.json and state.json; "
                           "`redraft runs` lists the run folders)")
    try:
        config = RunConfig.read(run)
        checkpoint = Checkpoint.read(run)
    except (ValidationError, ValueError) as exc:
        raise RedraftError(f"{path}: the run's files cannot be read ({_first_line(exc)})") from None
    return PastRun(run=run, config=config, checkpoint=checkpoint, summary=_summary(run, config, checkpoint))


def _summary(run: RunDir, config: RunConfig, checkpoint: Checkpoint) -> Summary:
    # A run writes summary.json last, after its final checkpoint; a process killed later (a resumed run
    # killed with -9) leaves an older summary.json behind, so the checkpoint is the truth then.
    if run.summary_path.is_file() and run.summary_path.stat().st_mtime >= run.state_path.stat().st_mtime:
        try:
            return Summary.model_validate_json(run.summary_path.read_text(encoding="utf-8"))
        except ValidationError:
            pass
    saved = datetime.fromtimestamp(run.state_path.stat().st_mtime, timezone.utc).isoformat(timespec="milliseconds")
    return make_summary(checkpoint.run, config, checkpoint.ledger, run_dir=run.path, started=checkpoint.started,
                        finished=saved, seconds=checkpoint.seconds)


def list_runs(runs_dir: str | Path) -> tuple[list[PastRun], list[tuple[Path, str]]]:
    """The runs under a folder, oldest first, and the run folders that could not be read (with why)."""
    root = Path(runs_dir)
    if not root.is_dir():
        raise RedraftError(f"{runs_dir}: no such folder (runs go to ./runs, or to --runs-dir DIR of `redraft run`)")
    runs, broken = [], []
    for path in sorted(p for p in root.iterdir() if p.is_dir()):
        if not (path / "config.json").is_file():
            continue  # not a run folder
        try:
            runs.append(read_run(path))
        except RedraftError as exc:
            broken.append((path, str(exc)))
    return runs, broken


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

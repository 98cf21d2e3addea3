"""Reading a run folder back: a past run as it ended or as its last checkpoint left it (show, export,
report, the list of runs), and reopening one to resume it (a damaged file refused with what is still
usable and how to recover, a finished run refused, the scenario file's changes named)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, TypeVar

from pydantic import ValidationError

from ..config import Baseline, Scenario, Split, load_scenario, majority_baselines
from ..errors import RedraftError
from ..records import Summary
from .checkpoint import Checkpoint, RunConfig
from .folder import RunDir
from .summary import Reached, build_summary


@dataclass
class RunRecord:
    """A run folder read back: its configuration, its last checkpoint and its summary."""

    run: RunDir
    config: RunConfig
    checkpoint: Checkpoint
    summary: Summary
    scenario: Scenario
    rebuilt: str | None = None  # why summary.json could not be used, when the summary was rebuilt from state.json

    @property
    def status(self) -> Literal["finished", "resumable"]:
        """finished, or resumable with `redraft resume`."""
        return "finished" if self.checkpoint.run.finished(bool(self.config.splits.test)) else "resumable"

    def damage_note(self, *, written: bool) -> str | None:
        """One line telling the user the summary shown was rebuilt, when summary.json was damaged: what they see
        comes from state.json, not from the file they may open. written: the rebuilt summary.json was saved."""
        if self.rebuilt is None:
            return None
        after = ("and written again" if written else
                 f"(the file is left as it is; `redraft report {self.run.path}` writes it again)")
        return f"{self.run.summary_path}: damaged ({self.rebuilt}); the summary was rebuilt from state.json {after}"


def read_run(path: str | Path, *, purpose: str = "read it") -> RunRecord:
    """A finished or interrupted run's record. summary.json is used when it is newer than the checkpoint; a run
    killed after its last summary (or before any), or whose summary.json is damaged, gets one made from the
    checkpoint, as resume would make it (the damaged file is left as it is: reading a run never writes to it,
    and another process may own the folder). A damaged config.json or state.json is one line naming it."""
    run = RunDir(Path(path))
    run.require(purpose)
    settings = "the run's settings are damaged"
    config = _intact(run, run.config_path, settings, lambda: RunConfig.read(run), purpose)
    checkpoint = _intact(run, run.state_path, "the checkpoint is damaged", lambda: Checkpoint.read(run), purpose)
    scenario = _intact(run, run.config_path, settings, config.restored_scenario, purpose)
    try:
        return _record(run, config, checkpoint, scenario)
    except (ValidationError, ValueError) as exc:
        raise RedraftError(f"{path}: the run's files cannot be read ({_first_line(exc)})") from None


def _intact(run: RunDir, path: Path, damaged: str, read: Callable[[], T], purpose: str) -> T:
    """What read() gives, or one line naming the file, what is wrong with it and what the folder still holds
    (a pydantic error is three lines that name neither the file nor a way on)."""
    try:
        return read()
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise RedraftError(f"{path}: {damaged} ({_why(path, exc)}), so the run cannot be read to {purpose}. "
                           f"Still usable: {_usable(run)}") from None


def _record(run: RunDir, config: RunConfig, checkpoint: Checkpoint, scenario: Scenario) -> RunRecord:
    stored = _stored_summary(run)
    if isinstance(stored, Summary):
        summary, rebuilt = stored, None
    else:
        reached = Reached(checkpoint.run, checkpoint.ledger, checkpoint.started, checkpoint.seconds)
        summary = build_summary(run.path, scenario, reached, config.models, _majority(scenario))
        rebuilt = stored or None
    # What summaries written before these fields existed lack.
    if scenario.labeled and not summary.majority:
        summary.majority = _majority(scenario)
    summary.usage_by_round = summary.usage_by_round or checkpoint.ledger.by_round_role
    return RunRecord(run=run, config=config, checkpoint=checkpoint, summary=summary, scenario=scenario, rebuilt=rebuilt)


def _stored_summary(run: RunDir) -> Summary | str:
    """summary.json when it is usable and newer than the checkpoint; else why not: "" when it is only missing or
    older (a run killed before its summary), a reason when it is damaged."""
    try:
        fresh = run.summary_path.is_file() and run.summary_path.stat().st_mtime_ns >= run.state_path.stat().st_mtime_ns
        if not fresh:
            return ""
        return Summary.model_validate_json(run.summary_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        return _why(run.summary_path, exc)


def _majority(scenario: Scenario) -> dict[Split, Baseline]:
    return majority_baselines(scenario.splits, scenario.make_metric()) if scenario.labeled else {}


def list_runs(runs_dir: str | Path) -> tuple[list[RunRecord], list[tuple[Path, str]]]:
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


@dataclass
class Reopened:
    """A run folder read back for resuming: its settings, its scenario as it ran, its last checkpoint."""

    config: RunConfig
    scenario: Scenario
    checkpoint: Checkpoint


def reopen(run: RunDir) -> Reopened:
    """Read a run's config.json and state.json; refuse a damaged file or a finished run, changing nothing."""
    settings = "the run's settings are damaged"
    config = _read(run, run.config_path, settings, lambda: RunConfig.read(run), _scenario_from_summary(run))
    scenario = _read(run, run.config_path, settings, config.restored_scenario, config.scenario_file)
    checkpoint = _read(run, run.state_path, "the checkpoint is damaged", lambda: Checkpoint.read(run),
                       config.scenario_file)
    state = checkpoint.run
    if state.finished(bool(scenario.splits.test)):
        raise RedraftError(
            f"{run.path}: this run already finished ({state.stop_reason}). resume continues interrupted runs; a "
            "finished run is not continued, not even with --rounds: its final prompt and its test score (held-out, "
            f"scored once) stay as they are. To go further, start a new run: redraft run "
            f"{config.scenario_file or 'SCENARIO'} --rounds N (unless the reply cache was off, it replays the calls already made)")
    return Reopened(config=config, scenario=scenario, checkpoint=checkpoint)


T = TypeVar("T")


def _read(run: RunDir, path: Path, damaged: str, read: Callable[[], T], scenario_file: str | None) -> T:
    try:
        return read()
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise RedraftError(
            f"{path}: {damaged} ({_why(path, exc)}), so this run cannot be resumed; nothing was changed. Still "
            f"usable: {_usable(run)}. To recover, start the scenario again: redraft run {scenario_file or 'SCENARIO'} "
            "(unless the reply cache was off, it replays the calls already made)") from None


def _why(path: Path, exc: Exception) -> str:
    try:
        raw = path.read_bytes()
    except OSError as err:
        return f"cannot be read: {err.strerror}"
    if not raw.strip():
        return "the file is empty"
    if isinstance(exc, UnicodeDecodeError):
        return "the file is not text"
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_url=False)
        if errors and errors[0]["type"] == "json_invalid":
            return "not valid JSON: cut short, or overwritten"
        missing = [".".join(str(p) for p in e["loc"]) for e in errors if e["type"] == "missing"]
        return f"missing: {', '.join(missing[:4])}" if missing else f"{errors[0]['msg'] if errors else exc}"
    return str(exc).splitlines()[0]


def _usable(run: RunDir) -> str:
    """What a damaged run folder still holds that a person can read or use."""
    parts = []
    lines = _transcript(run)
    if lines:
        rounds = max((int(e.get("round", 0)) for e in lines), default=0)
        parts.append(f"transcript.jsonl ({len(lines)} messages up to round {rounds}, intact)")
    prompts = sorted(run.prompts.glob("round-*.txt")) if run.prompts.is_dir() else []
    if prompts:
        parts.append(f"prompts/ ({len(prompts)} prompt{'s' if len(prompts) > 1 else ''})")
    parts += [p.name for p in (run.summary_path, run.final_prompt_path) if p.is_file()]
    return ", ".join(parts) or "nothing (no message was recorded)"


def _transcript(run: RunDir) -> list[dict[str, Any]]:
    try:
        raw = run.transcript_path.read_bytes()
    except OSError:
        return []
    out = []
    for line in raw.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


def _scenario_from_summary(run: RunDir) -> str | None:
    try:
        found = json.loads(run.summary_path.read_text(encoding="utf-8")).get("scenario_file")
    except (OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None


def scenario_changes(reopened: Reopened) -> str | None:
    """A note when the scenario file is no longer what the run was started with (resume uses the run's copy)."""
    config = reopened.config
    if config.scenario_file is None:
        return None
    where = config.scenario_file
    try:
        now = load_scenario(where)
    except RedraftError as exc:
        state = "is not found from here" if not Path(where).is_file() else f"no longer loads ({exc})"
        return f"the scenario file {where} {state}; resuming with the run's own copy of it (config.json)"
    before, after = config.scenario, now.model_dump(mode="json")
    keys = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]
    if now.splits != config.splits:
        keys.append("the examples it loads")
    if not keys:
        return None
    return (f"the scenario file {where} changed since this run started ({', '.join(keys)}); resuming with the "
            "run's own copy of it (config.json), as it was. To use the edited file, start a new run")

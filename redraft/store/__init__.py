"""The run folder: its layout and lock, the transcript, the checkpoint and configuration, the summary, reading it back."""

from .checkpoint import CardRecord, Checkpoint, RunConfig
from .folder import RunDir, new_folder, now_iso
from .read import Reopened, RunRecord, list_runs, read_run, reopen, scenario_changes
from .summary import Reached, build_summary, held_out_summary, reviewer_summary, round_summary, write_summary

__all__ = ["CardRecord", "Checkpoint", "Reached", "Reopened", "RunConfig", "RunDir", "RunRecord", "build_summary",
           "held_out_summary", "list_runs", "new_folder", "now_iso", "read_run", "reopen", "reviewer_summary",
           "round_summary", "scenario_changes", "write_summary"]

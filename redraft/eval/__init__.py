"""Pure scoring: statistics, the review schema and the panel's aggregate, error patterns, cutting a looping reply."""

from .checks import copied_input, dropped_labels, failed_checks, missing_facts, new_labels, new_numbers, restore_facts, task_facts, words
from .critique import (ISSUE_MAX, REVIEW_LISTS, Agreement, CriticResult, JudgeNoise, PanelAgreement, PanelNoise, PanelStats,
                       Proposal, Review, aggregate, check_review, echoed_shape, per_output_panel, proposal_schema,
                       review_schema, review_values)
from .diagnosis import (NO_ANSWER, confusion, error_kind, error_pattern, failures_block, pick_failures,
                        rank_correlation, top_error)
from .repeats import RepeatedDifference, holm, repeated_difference
from .repetition import cut_loop
from .stats import (Interval, PairedDifference, describe, judge_noise, krippendorff_alpha, mean_ci, no_variation,
                    paired_bootstrap, paired_difference, win_rate)

__all__ = ["Agreement", "CriticResult", "ISSUE_MAX", "Interval", "JudgeNoise", "NO_ANSWER", "PairedDifference", "PanelAgreement",
           "PanelNoise", "PanelStats", "Proposal", "REVIEW_LISTS", "RepeatedDifference", "Review", "aggregate", "check_review", "confusion", "cut_loop",
           "describe", "echoed_shape", "copied_input", "dropped_labels", "failed_checks", "missing_facts", "new_labels", "new_numbers", "restore_facts", "task_facts", "words", "error_kind", "error_pattern", "failures_block", "holm", "judge_noise",
           "krippendorff_alpha", "mean_ci", "no_variation", "paired_bootstrap", "paired_difference",
           "per_output_panel", "pick_failures", "proposal_schema", "rank_correlation", "repeated_difference", "review_schema",
           "review_values", "top_error", "win_rate"]

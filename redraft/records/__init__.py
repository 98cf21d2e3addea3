"""The typed values a run produces and keeps: candidates and their evaluations, the run state, transcript entries, summaries and comparisons."""

from .candidate import ADDITIONS, Candidate, Evaluation, Operator, prompt_key, render_prompt, split_prompt
from .results import (
                      ARM_NAMES,
                      ARMS,
                      Arm,
                      ArmRepeat,
                      ArmResult,
                      ComparedExample,
                      CompareResult,
                      Difference,
                      HeldOutSummary,
                      PanelSummary,
                      ReviewerAgreement,
                      ReviewerScore,
                      ReviewerSummary,
                      ReviewSummary,
                      RoundPoint,
                      RoundSummary,
                      Summary,
                      UnparsedReview,
                      agreement_text,
                      score_text,
)
from .state import CandidateResult, Decision, HeldOutScore, ReviewerVerdict, RoundRecord, RunState
from .transcript import Entry

__all__ = ["ADDITIONS", "ARMS", "ARM_NAMES", "Arm", "ArmRepeat", "ArmResult", "Candidate", "CandidateResult",
           "CompareResult", "ComparedExample", "Decision", "Difference", "Entry", "Evaluation", "HeldOutScore",
           "HeldOutSummary", "Operator", "PanelSummary", "ReviewSummary", "ReviewerAgreement", "ReviewerScore",
           "ReviewerSummary", "ReviewerVerdict", "RoundPoint", "RoundRecord", "RoundSummary", "RunState", "Summary",
           "UnparsedReview", "agreement_text", "prompt_key", "render_prompt", "score_text", "split_prompt"]

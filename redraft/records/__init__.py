"""The typed values a run keeps: candidates, the run state, transcript entries, models and usage, summaries, comparisons."""

from .candidate import (ADDITIONS, LEFT_OFF, Candidate, Evaluation, Operator, clipped, prompt_key, render_prompt, split_prompt,
                        with_examples, wording)
from .results import (ARM_NAMES, ARMS, DEMO_ARMS, AgainstStart, Arm, ArmRepeat, ArmResult, ComparedExample, CompareResult,
                      Difference, JudgeSummary, HeldOutSummary, PanelSummary, ReviewerAgreement, ReviewerScore, ReviewerSummary, ReviewSummary,
                      RoundPoint, RoundSummary, Summary, UnparsedReview, agreement_text, score_text)
from .state import FOCUS_NOTE_MAX, CandidateResult, Decision, HeldOutScore, PairVerdict, Pick, ReviewerVerdict, RoundRecord, RunState
from .transcript import Entry
from .usage import Ledger, ModelDescription, ModelUse, Usage
from .words import record_words

__all__ = ["ADDITIONS", "LEFT_OFF", "ARMS", "FOCUS_NOTE_MAX", "ARM_NAMES", "DEMO_ARMS", "Arm", "ArmRepeat", "ArmResult", "JudgeSummary", "Candidate",
           "CandidateResult",
           "CompareResult", "ComparedExample", "Decision", "Difference", "Entry", "Evaluation", "Ledger", "ModelDescription", "ModelUse", "Usage", "HeldOutScore",
           "AgainstStart", "HeldOutSummary", "Operator", "PairVerdict", "PanelSummary", "Pick", "ReviewSummary", "ReviewerAgreement", "ReviewerScore",
           "ReviewerSummary", "ReviewerVerdict", "RoundPoint", "RoundRecord", "RoundSummary", "RunState", "Summary",
           "UnparsedReview", "agreement_text", "clipped", "prompt_key", "record_words", "render_prompt", "score_text", "split_prompt", "with_examples",
           "wording"]

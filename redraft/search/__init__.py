"""The candidate search: the run context, running prompts, proposing, worked examples, screening, the loop's policies."""

from .context import RunContext, Seat, template_values
from .demos import shows_working, with_new_demos
from .evaluate import (executor_messages, failures_text, metric_results, minibatch_of, panel_results, rescoring_noise,
                       run_prompt, score_examples)
from .metric import metric_kind
from .policies import OperatorCycle, demo_count, pick_demos, screening_batch
from .propose import added_sentences, draft, reads_as_reply, without_replies
from .round import candidates_text, evaluate_round, focus_from_errors, parent_of, propose_candidates
from .screen import promoted, run
from .selection import BestOnDev, MeanWin, stop_rule
from .teacher import teacher_examples

__all__ = ["BestOnDev", "MeanWin", "OperatorCycle", "RunContext", "Seat", "added_sentences", "candidates_text",
           "demo_count", "draft", "evaluate_round", "executor_messages", "failures_text", "focus_from_errors",
           "metric_kind", "metric_results", "minibatch_of", "panel_results", "parent_of", "pick_demos", "promoted",
           "propose_candidates", "reads_as_reply", "rescoring_noise", "run", "run_prompt", "score_examples",
           "screening_batch", "shows_working", "stop_rule", "teacher_examples", "template_values", "with_new_demos", "without_replies"]

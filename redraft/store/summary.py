"""summary.json and final_prompt.txt: whatever a run reached, as the summary shows it (rounds, best and
test scores, the majority-class baseline, the reviewer beside the panel, usage)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from .._files import write_atomic
from ..config import Baseline, Scenario, Split
from ..records import (AgainstStart, HeldOutScore, HeldOutSummary, Ledger, ModelUse, PanelSummary, ReviewerAgreement, ReviewerScore,
                       ReviewerSummary, ReviewSummary, RoundRecord, RoundSummary, RunState, Summary, UnparsedReview)
from ..secrets import scrub
from .folder import RunDir, now_iso


def round_summary(r: RoundRecord) -> RoundSummary:
    """One round as summary.json shows it."""
    critics: dict[str, ReviewSummary | UnparsedReview] = {}
    for c in r.critics:
        if c.review is not None:
            critics[c.critic] = ReviewSummary(scores=c.review.scores, overall=round(c.review.overall(), 3),
                                              per_output=c.review.per_output, issues=c.review.issues, edits=c.review.edits)
        else:
            critics[c.critic] = UnparsedReview(error=c.error, raw=c.raw)
    panel = PanelSummary.model_validate(r.panel.model_dump(include=set(PanelSummary.model_fields))) if r.panel else None
    return RoundSummary(
        round=r.round, prompt=r.prompt, changes=r.changes, origin=r.origin, critics=critics,
        mean=r.panel.mean if r.panel else {}, spread=r.panel.spread if r.panel else {}, score=r.score, focus=r.focus,
        train_score=r.train_score, dev_score=r.dev_score, panel=panel, selection=r.decision,
        candidates=r.candidates, judge_validity=r.judge_validity, metric_errors=len(r.metric_errors),
        metric_error=r.metric_errors[0] if r.metric_errors else None,
    )


def held_out_summary(test: HeldOutScore) -> HeldOutSummary:
    """The held-out test score as summary.json shows it."""
    return HeldOutSummary(score=test.score, ci_low=test.ci_low, ci_high=test.ci_high, n=test.n, round=test.round,
                          per_example={k: v.score for k, v in test.per_example.items()})


@dataclass(frozen=True)
class Reached:
    """What a run reached, whether it ended or stopped: its state, what it spent and when it started."""

    state: RunState
    ledger: Ledger
    started: str
    seconds: float  # time spent on the run, over every process that worked on it


def build_summary(run_dir: Path, scenario: Scenario, reached: Reached, models: dict[str, ModelUse],
                  majority: dict[Split, Baseline]) -> Summary:
    """The summary of whatever the run reached (majority: the majority-class baseline per split, labeled runs)."""
    state, ledger = reached.state, reached.ledger
    best = state.best()
    final_round = state.final()
    final = final_round.prompt if final_round else None
    return Summary(
        scenario=scenario.name,
        scenario_file=str(scenario.path) if scenario.path else None,
        run_dir=str(run_dir),
        started=reached.started,
        finished=now_iso(),
        models=models,
        rounds=[round_summary(r) for r in state.rounds],
        best_round=best.round if best else None,
        best_score=best.score if best else None,
        score_scale="0-1 (metric)" if scenario.labeled else "1-10 (critic panel)",
        test=held_out_summary(state.test) if state.test else None,
        majority=majority if scenario.labeled else {},
        reviewer=reviewer_summary(state),
        final_prompt=final,
        against_start=against_start(state, scenario),
        stop_reason=state.stop_reason or "unfinished",
        usage=ledger.total,
        usage_by_role=ledger.by_role,
        usage_by_round=ledger.by_round_role,
        seconds=round(reached.seconds, 3),
    )


def against_start(state: RunState, scenario: Scenario) -> AgainstStart | None:
    """The final prompt's dev score against the user's own prompt on the dev examples both were scored on."""
    final, start = state.final(), state.start_dev()
    if final is None or not start or not final.dev:
        return None
    ids = [i for i in start if i in final.dev]
    if not ids:
        return None
    a = statistics.fmean(start[i].score for i in ids)
    b = statistics.fmean(final.dev[i].score for i in ids)
    same = final.prompt.strip() == scenario.start_prompt
    return AgainstStart(start=round(a, 4), final=round(b, 4), difference=round(b - a, 4), n=len(ids), final_is_start=same)


def write_summary(run: RunDir, summary: Summary) -> None:
    """Write summary.json and final_prompt.txt (when the run has a usable prompt)."""
    run.write_json(run.summary_path, summary.model_dump(mode="json"))
    if summary.final_prompt is not None:
        write_atomic(run.final_prompt_path, scrub(summary.final_prompt.rstrip()) + "\n")


def reviewer_summary(state: RunState) -> ReviewerSummary | None:
    """The reviewer's verdicts beside the panel's, and how far they agreed."""
    verdicts = [r.reviewer for r in state.rounds if r.reviewer]
    if not verdicts:
        return None
    pairs = [(v.score, v.panel_score) for v in verdicts if v.score is not None and v.panel_score is not None]
    corr = None
    if len(pairs) >= 3:
        try:
            corr = round(statistics.correlation([a for a, _ in pairs], [b for _, b in pairs]), 3)
        except statistics.StatisticsError:
            corr = None  # one side constant: no correlation defined
    approvals = [v for v in verdicts if v.action == "approve"]
    matched = sum(1 for v in approvals if v.moderator_would_accept)
    return ReviewerSummary(
        rounds=verdicts,
        scores=[ReviewerScore(round=v.round, reviewer=v.score, panel=v.panel_score, combined=v.combined_score)
                for v in verdicts if v.score is not None],
        agreement=ReviewerAgreement(
            score_vs_panel_pearson=corr, n_scored=len(pairs),
            approvals=len(approvals), approvals_matching_moderator=matched,
            approval_match_rate=round(matched / len(approvals), 3) if approvals else None,
        ),
    )

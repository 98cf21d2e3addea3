"""The search's small named policies: which edits a round asks for, which train examples screen them,
and which are shown as worked examples."""

from __future__ import annotations

import collections
import random
from typing import Sequence

from ..config import Example
from ..records import Candidate, Evaluation, Operator


class OperatorCycle:
    """Which edits a round asks for: new worked examples every round (the largest lever for a small
    task model, and the edit that won in every measured run), and the instruction edits in turn for
    the other places, so every kind gets tried.

    Label definitions and decision rules only where there are labels to confuse; reasoning before the
    answer only for a label task whose replies have room for it and whose best prompt does not reason yet.
    """

    def __init__(self, per_round: int, labeled_classes: bool, reasoning_room: bool = False):
        self.per_round = per_round
        self.order: list[Operator] = ["define_labels", "fix_errors", "decision_rules", "reason_first", "output_format",
                                      "simplify"]
        if not labeled_classes:
            self.order.remove("define_labels")
            self.order.remove("decision_rules")
        if not (labeled_classes and reasoning_room):
            self.order.remove("reason_first")

    def pick(self, round_no: int, parent: Candidate) -> list[Operator]:
        """The operators for this round (round 2 is the first round of edits)."""
        order = [op for op in self.order if not (op == "reason_first" and parent.reasoning)]
        slots = self.per_round - 1
        start = (round_no - 2) * slots
        edits = [order[(start + i) % len(order)] for i in range(min(slots, len(order)))]
        return ["demos", *edits]


def screening_batch(train: Sequence[Example], parent: Evaluation, size: int, rng: random.Random) -> list[Example]:
    """A train minibatch for screening edits: half the parent's known failures, the rest drawn at random.

    Failures make the screen about what needs fixing (a batch the parent already gets right says
    nothing, GEPA's "all subsample scores perfect"); the random half catches edits that break what works.
    """
    failing = [e for e in train if e.id in parent.train and parent.train[e.id].score < 1]
    rng.shuffle(failing)
    picked = failing[: size // 2]
    rest = [e for e in train if e not in picked]
    picked += rng.sample(rest, min(size - len(picked), len(rest)))
    order = {e.id: i for i, e in enumerate(train)}
    return sorted(picked, key=lambda e: order[e.id])


def pick_demos(train: Sequence[Example], k: int, rng: random.Random, *, prefer: Sequence[Example] = (),
               avoid: Sequence[str] = (), max_chars: int = 400) -> list[Example]:
    """k worked examples from train, covering every target label before repeating one.

    Examples the current prompt gets wrong are preferred (PromptWizard mines its examples from
    failures); over-long inputs are left out, since every example is sent with every call.
    """
    short = [e for e in train if len(e.input) <= max_chars and e.id not in set(avoid)] or list(train)
    preferred = {e.id for e in prefer}
    by_target: dict[str, list[Example]] = collections.defaultdict(list)
    for e in short:
        by_target[e.target].append(e)
    for members in by_target.values():
        rng.shuffle(members)
        members.sort(key=lambda e: e.id not in preferred)  # stable: preferred first, shuffled within
    labels = sorted(by_target, key=lambda t: (-len(by_target[t]), t))
    if len(labels) > k:  # many distinct targets (numbers): no point in covering them
        pool = sorted(short, key=lambda e: (e.id not in preferred, rng.random()))
        return pool[:k]
    picked: list[Example] = []
    while len(picked) < k and any(by_target[t] for t in labels):
        for t in labels:
            if by_target[t] and len(picked) < k:
                picked.append(by_target[t].pop(0))
    rng.shuffle(picked)  # no label order for the model to copy
    return picked


def demo_count(labels: int) -> int:
    """How many worked examples a prompt gets: every label twice, at most 12 (on trec, 12 examples as turns
    had a 0.5B task model label 0.63 of held-out train questions, 6 examples 0.56)."""
    if labels <= 0:
        return 4
    return min(12, 2 * labels)

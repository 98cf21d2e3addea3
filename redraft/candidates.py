"""Candidate prompts and the search over them: a prompt is an instruction plus worked examples drawn
from train, edits are named operators, and each decision of the search is a small named policy
(which edits a round asks for, which train examples screen them, which are shown as examples).

The instruction and the worked examples are separate parts, as DSPy's optimizers keep them: the
engineer rewrites the instruction, the code picks the examples, and the prompt the task model
sees is the two rendered together.
"""

from __future__ import annotations

import collections
import hashlib
import random
import re
from typing import Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field

from .data import Example, ExampleResult

# "rewrite_errors" (a full rewrite around the errors, now "fix_errors", an addition) stays for runs saved before.
Operator = Literal["draft", "seed", "reviewer", "fallback", "fix_errors", "rewrite_errors", "decision_rules", "demos",
                   "output_format", "simplify", "reason_first"]
# Edits the engineer writes as sentences added to the instructions, not as new instructions (ProTeGi's
# edit from a textual gradient): a small engineer asked for whole instructions mostly handed them back
# unchanged (4-5 of 6 such edits per run in the benchmark), and an addition cannot be that.
ADDITIONS: frozenset[str] = frozenset({"fix_errors", "decision_rules"})


class Search(BaseModel):
    """How many candidates a round tries (labeled scenarios): `search:` in a scenario."""

    model_config = ConfigDict(extra="forbid")

    drafts: int = Field(default=7, ge=1, le=16)  # round 1: drafts drawn; the best on dev starts the chat
    # round 1: with more drafts than this, each runs on a train minibatch first and only the best this many go
    # on to full dev (as many drafts as best-of-N draws, for about the dev runs of two)
    draft_dev: int = Field(default=2, ge=1, le=16)
    candidates: int = Field(default=3, ge=1, le=8)  # later rounds: edits tried on a train minibatch
    promote: int = Field(default=1, ge=1, le=8)  # edits that beat their parent there and go on to full dev
    demos: int | None = Field(default=None, ge=0, le=16)  # worked examples per prompt (default: by the labels)


class Candidate(BaseModel):
    """One candidate prompt: its instruction, the train examples shown as worked examples, and how it came about."""

    instruction: str
    demos: list[str] = Field(default_factory=list)  # ids of train examples shown as worked examples
    # A worked example's reply, where it is the task model's own right reply with its working (DSPy's
    # bootstrapped demonstrations); an example not here shows its target alone.
    replies: dict[str, str] = Field(default_factory=dict)
    reasoning: bool = False  # the reply works through the input before its answer (label tasks)
    operator: Operator = "draft"
    parent: str | None = None  # the key of the prompt it was edited from
    changes: str = ""

    def prompt(self, train: Sequence[Example]) -> str:
        """The prompt the task model gets: the instruction, then the worked examples."""
        by_id = {e.id: e for e in train}
        return render_prompt(self.instruction, [by_id[i] for i in self.demos if i in by_id], self.replies)


def render_prompt(instruction: str, demos: Sequence[Example], replies: dict[str, str] | None = None) -> str:
    """Instruction and worked examples as one system prompt: the target alone, or the whole right reply."""
    if not demos:
        return instruction.strip()
    replies = replies or {}
    block = "\n\n".join(f"Input: {e.input}\nReply:\n{replies[e.id].strip()}" if e.id in replies
                         else f"Input: {e.input}\nAnswer: {e.target}" for e in demos)
    return f"{instruction.strip()}\n\nExamples:\n\n{block}"


_EXAMPLES = "\n\nExamples:\n\n"
_BLOCK = re.compile(r"Input: (.*?)\nAnswer: ([^\n]*)|Input: (.*?)\nReply:\n(.*)", re.S)


def split_prompt(text: str) -> tuple[str, list[tuple[str, str]]]:
    """A prompt as its instruction and its worked examples, (input, reply) each: the parts render_prompt
    joined, so the executor can send the examples as chat turns (as DSPy's chat adapter does: on trec, a
    0.5B task model labelled 0.68 of held-out train questions with 12 examples as turns, 0.39 with the
    same examples in its system prompt). A prompt whose text after its last "Examples:" heading is not
    wholly such examples is all instruction."""
    text = text.strip()
    at = text.rfind(_EXAMPLES)
    if at < 0:
        return text, []
    pairs = []
    for block in re.split(r"\n\n(?=Input: )", text[at + len(_EXAMPLES):]):
        m = _BLOCK.fullmatch(block)
        if m is None:
            return text, []
        pairs.append((m[1], m[2]) if m[1] is not None else (m[3], m[4]))
    return text[:at], pairs


def prompt_key(text: str) -> str:
    """Equal prompts (up to white space and case) get equal keys: a repeated candidate is never run again."""
    return hashlib.sha256(" ".join(text.split()).lower().encode("utf-8")).hexdigest()[:16]


class Evaluation(BaseModel):
    """Everything one prompt has been run on so far: outputs and scores per example id."""

    key: str
    candidate: Candidate
    prompt: str
    round: int
    outputs: dict[str, str] = Field(default_factory=dict)
    train: dict[str, ExampleResult] = Field(default_factory=dict)
    dev: dict[str, ExampleResult] = Field(default_factory=dict)

    def mean(self, split: Literal["train", "dev"], ids: Sequence[str] | None = None) -> float | None:
        """Mean score over a split's examples (or the given ids among them)."""
        results = self.train if split == "train" else self.dev
        values = [results[i].score for i in (ids if ids is not None else results) if i in results]
        return sum(values) / len(values) if values else None

    def total(self, ids: Sequence[str]) -> float:
        """Summed train score on these ids (a minibatch)."""
        return sum(self.train[i].score for i in ids if i in self.train)


class OperatorCycle:
    """Which edits a round asks for: new worked examples every round (the largest lever for a small
    task model, and the edit that won in every measured run), and the instruction edits in turn for
    the other places, so every kind gets tried.

    Decision rules only where there are labels to confuse; reasoning before the answer only for a
    label task whose replies have room for it and whose best prompt does not reason yet.
    """

    def __init__(self, per_round: int, labeled_classes: bool, reasoning_room: bool = False):
        self.per_round = per_round
        self.order: list[Operator] = ["fix_errors", "decision_rules", "reason_first", "output_format", "simplify"]
        if not labeled_classes:
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

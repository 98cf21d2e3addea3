"""Candidate prompts and the search over them: a prompt is an instruction plus worked examples drawn
from train, edits are named operators, and each decision of the search is a small named policy
(policies.py: which edits a round asks for, which train examples screen them, which are shown as examples).

The instruction and the worked examples are separate parts, as DSPy's optimizers keep them: the
engineer rewrites the instruction, the code picks the examples, and the prompt the task model
sees is the two rendered together.
"""

from __future__ import annotations

import hashlib
import re
from typing import Literal, Sequence

from pydantic import BaseModel, Field

from ..config import Example, ExampleResult

# "start" is the user's own prompt (candidate 0 of round 1); "seed" is how runs before it named a seed prompt.
# "rewrite_errors" (a full rewrite around the errors, now "fix_errors", an addition) stays for runs saved before.
Operator = Literal["start", "draft", "seed", "reviewer", "fallback", "fix_errors", "rewrite_errors", "decision_rules", "demos",
                   "output_format", "simplify", "reason_first", "define_labels"]
# Edits the engineer writes as sentences added to the instructions, not as new instructions (ProTeGi's
# edit from a textual gradient): a small engineer asked for whole instructions mostly handed them back
# unchanged (4-5 of 6 such edits per run in the benchmark), and an addition cannot be that.
ADDITIONS: frozenset[str] = frozenset({"fix_errors", "decision_rules", "define_labels"})


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


def with_examples(instruction: str, pairs: Sequence[tuple[str, str]]) -> str:
    """Instruction and worked examples given as (input, reply) pairs, rendered as render_prompt renders a reply:
    what split_prompt takes apart again (a rubric prompt's examples are the optimizer model's replies)."""
    if not pairs:
        return instruction.strip()
    block = "\n\n".join(f"Input: {given}\nReply:\n{reply.strip()}" for given, reply in pairs)
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


def wording(text: str) -> tuple[str, ...]:
    """A prompt's words, without case, punctuation or quotation marks: two prompts with the same wording differ
    only in how they are written (the 1.5B engineer "revised" a prompt by swapping its double quotes for single)."""
    return tuple(re.findall(r"\w+", text.lower()))


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
LEFT_OFF = re.compile(r"\s*\(\+\d+ words?\)")  # what clipped writes where it left words off


def clipped(text: str, limit: int) -> str:
    """A prompt as a list shows it, in at most about `limit` characters: its first whole sentences (or words, when
    the first sentence is longer), and how many words were left off, "(+12 words)". A prompt cut off mid-word with
    "..." is copied as it stands: the 1.5B engineer added "The outputs will be judge..." from such a list to the
    instructions, and that was a final prompt."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    kept = ""
    for sentence in _SENTENCE_END.split(text):
        if len(kept) + len(sentence) + 1 > limit:
            break
        kept = f"{kept} {sentence}".strip()
    if not kept:  # the first sentence alone is too long: whole words
        kept = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
    left = len(text.split()) - len(kept.split())
    return f"{kept} (+{left} words)"


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

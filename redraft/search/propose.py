"""Proposing the round's candidates. Round 1 draws drafts from the meta-instruction, each with its own
seed (about what best-of-N draws at the chat's calls); later rounds edit the best prompt so far with
named operators (worked examples from train, a sentence per label from train inputs under it, sentences
added against the most frequent errors, decision rules, the output instruction, a simpler prompt). A
prompt's sentences written as the engineer's reply to a user ("Understood.", "Please provide the
problem.") are taken out, and a prompt that is nothing else is no candidate; a candidate proposed before
is dropped, and an edit whose place is lost (a repeat, an unusable reply) goes to another draw of worked
examples."""

from __future__ import annotations

import random
import re
from typing import Callable, Sequence

from ..config import AgentCard
from ..eval import (Proposal, copied_input, dropped_labels, error_pattern, failures_block, new_labels, pick_failures,
                    proposal_schema)
from ..llm import JsonReply, Objection
from ..records import ADDITIONS, LEFT_OFF, Candidate, Evaluation, Operator, clipped, prompt_key, score_text
from .context import RunContext
from .demos import with_new_demos
from .evaluate import gather_all
from .metric import labels_of, metric_kind
from .policies import OperatorCycle

ENGINEER_FAILURES = 6  # failing train examples a labeled edit request shows the engineer, drawn across error kinds
REASONING_ROOM = 100  # the fewest reply tokens in which a small model can work through an input before answering


def output_rule(ctx: RunContext, reasoning: bool = False) -> str:
    """What the task model's reply must be, in words, from the metric (the draft and every edit say it).

    A label task's reply is the label alone, unless the prompt has the model reason first (an edit that
    has to win its screen like any other)."""
    spec = ctx.scenario.metric
    if spec is None:
        return "what the task asks for"
    if spec.type == "label" and spec.labels and reasoning:
        return (f"a few short steps of working through the input, then a last line written 'Answer: <label>', "
                f"the label exactly one of: {', '.join(spec.labels)}")
    if spec.type == "label" and spec.labels:
        return f"only the answer label, exactly one of: {', '.join(spec.labels)}; no explanation"
    if spec.type == "numeric":
        return "the final answer as a number, on a last line written 'Answer: <number>' (a few short steps of working may come first)"
    return "exactly the output the task asks for, with nothing around it"


# A prompt the engineer wrote as its own reply to a user: an acknowledgement, or the engineer offering to do
# the task itself ("Understood. Please provide the movement instructions…", "I'm ready to solve the
# arithmetic word problem. Please input…"). Such a text wins round 1 where every draft scores the same.
_REPLY_OPENING = re.compile(r"^\W*(understood|sure|certainly|of course|okay|ok|got it|absolutely|alright|noted)\s*[.,!:]"
                            r"|^\W*I (need|have|want) to\b", re.I)
_OFFER = re.compile(r"\bI(?:'m| am) ready\b|\bI(?:'ll| will| can|'m going to| am going to) (?:solve|calculate|answer|"
                    r"classify|determine|compute|figure|work out|help|follow|decide|reply|respond|read|analy[sz]e|"
                    r"process|look at|provide the (?:final )?answer|give the (?:final )?answer)\b"
                    r"|\bplease (?:provide|give|send|input|enter) (?:me )?(?:the|your|an?) (?:input|instructions|problem|"
                    r"question|text|review|sentence)s?\b|\bplease proceed\b", re.I)
# Sentences and lines: split on it, a text alternates pieces and the gaps between them (a line break is a gap of its own).
_SENTENCES = re.compile(r"((?<=[.!?])[^\S\n]+|\n+)")
LEAST_WORDS = 5  # the fewest words left, once sentences to the user are out, that still make an instruction


def reads_as_reply(prompt: str) -> bool:
    """Whether a proposed prompt reads as the engineer's reply to a user rather than an instruction for the
    task model ("I will give you a problem. Solve it" is an instruction; "I will solve it" is not)."""
    return bool(_REPLY_OPENING.search(prompt) or _OFFER.search(prompt))


def without_replies(prompt: str) -> tuple[str, list[str]]:
    """The prompt without its sentences addressed to the user ("Understood.", "Please provide the
    inputs.", "I'll process the input…"), its layout otherwise kept; and the sentences taken out.
    The 1.5B engineer often wraps a sound instruction in one such sentence; the rest is still a prompt."""
    pieces = _SENTENCES.split(prompt.strip())
    kept, dropped = [], []
    for i in range(0, len(pieces), 2):
        sentence, gap = pieces[i], pieces[i + 1] if i + 1 < len(pieces) else ""
        if sentence.strip() and reads_as_reply(sentence):
            dropped.append(" ".join(sentence.split()))
        else:
            kept.append(sentence + gap)
    return "".join(kept).strip(), dropped


def shaped(card: AgentCard, template: str, reply: Proposal) -> tuple[str | None, str, str | None]:
    """A reply as a prompt: without the list's "(+12 words)", lines copied from the request and sentences to the
    user; (the prompt or None, what changed, why the reply is no prompt)."""
    # a sentence copied from the list of earlier prompts comes without the list's "(+12 words)"
    copied = LEFT_OFF.sub("", reply.prompt).strip()
    if not copied:
        return None, "", "its prompt was empty"
    prompt, changes = card.without_echo(template, copied), reply.changes.strip()
    if not prompt:
        return None, "", f'it only copied lines of the request: "{clipped(copied, 80)}"'
    if prompt != copied:
        changes = (f"{changes} " if changes else "") + "(without the lines it copied from the request)"
    kept, dropped = without_replies(prompt)
    if reads_as_reply(kept) or (dropped and len(kept.split()) < LEAST_WORDS):
        return None, "", f'written as a reply to the user, not a prompt: "{clipped(prompt, 80)}"'
    if dropped:
        changes = (f"{changes} " if changes else "") + f"(without {len(dropped)} sentence(s) to the user: {dropped[0][:60]!r})"
    return kept, changes, None


async def ask_engineer(ctx: RunContext, template: str, values: dict[str, str], seed: int, round_no: int,
                       objection: Callable[[str], str | None] | None = None) -> tuple[str | None, str, str | None]:
    """One request to the Prompt Engineer: (the prompt or None, what changed, why the reply was unusable).

    A reply that is no prompt, or one `objection` has something against (it pasted an input, it dropped a label),
    is sent back once with the reason ("That prompt cannot be used: …"), as the moderator of a chat would; the
    second reply stands or falls as it is."""
    seat, card = ctx.engineer, ctx.engineer.card
    used: list[tuple[str | None, str, str | None]] = []  # the shaped reply that passed the check

    def check(reply: Proposal) -> None:
        prompt, changes, why = shaped(card, template, reply)
        why = why or (objection(prompt) if objection is not None and prompt is not None else None)
        if why:
            raise Objection(why)
        used.append((prompt, changes, None))

    parsed = await ctx.caller.complete_json(JsonReply(Proposal, proposal_schema(), check), seat.sampling,
                                            round_no=round_no, system=card.render_system(values),
                                            user=card.render(template, **values), seed=seed)
    if parsed.value is None:
        return None, "", parsed.why_not
    prompt, changes, _ = used[-1]
    return prompt, " ".join(x for x in (changes, parsed.sent_back) if x), None


def draft_values(ctx: RunContext, round_no: int = 1, reasoning: bool = False) -> dict[str, str]:
    """The variables of the draft template."""
    return ctx.base_values() | {"round": str(round_no), "output_rule": output_rule(ctx, reasoning)}


def invented_label(ctx: RunContext, before: str, prompt: str) -> str | None:
    """Why a prompt that offers an answer besides the labels (one `before` did not offer) is no candidate, or None."""
    extra = new_labels(labels_of(ctx), before, prompt)
    if not extra:
        return None
    return (f"it offers {', '.join(repr(x) for x in extra)} as an answer, which is no label of the task "
            f"(the labels: {', '.join(labels_of(ctx))})")


async def draft(ctx: RunContext, seed: int, round_no: int = 1) -> Candidate:
    """One draft from the meta-instruction (a single shot is exactly this)."""
    prompt, changes, error = await ask_engineer(ctx, "draft", draft_values(ctx, round_no), seed, round_no,
                                                lambda p: invented_label(ctx, ctx.scenario.task, p))
    if prompt is None:
        return Candidate(instruction=ctx.scenario.task.strip(), operator="fallback",
                         changes=f"(draft unusable: {error})")
    return Candidate(instruction=prompt, operator="draft", changes=changes)


def start(ctx: RunContext) -> Candidate:
    """The user's own prompt as a candidate: what every draft and edit has to beat."""
    return Candidate(instruction=ctx.scenario.start_prompt, operator="start", changes=ctx.scenario.start_changes)


async def drafts(ctx: RunContext, n: int) -> list[Candidate]:
    """Round 1's n candidates: the user's prompt, then n − 1 drafts side by side, each with its own seed
    (an unusable one comes back as a fallback)."""
    s = ctx.scenario
    return [start(ctx), *await gather_all(draft(ctx, s.seed + 1 + i) for i in range(n - 1))]


def usable(ctx: RunContext, candidates: Sequence[Candidate]) -> tuple[list[Candidate], list[str]]:
    """The candidates worth running: not an unusable reply, and a prompt not proposed before in this
    round or an earlier one; and a line for each of the others saying why it was dropped."""
    seen = set(ctx.state.evaluations)
    out, dropped = [], []
    for c in candidates:
        key = prompt_key(c.prompt(ctx.scenario.splits.train))
        if c.operator == "fallback":
            dropped.append(c.changes.strip("()"))
        elif key in seen:
            dropped.append(f"{c.operator}: the same prompt as an earlier candidate")
        else:
            seen.add(key)
            out.append(c)
    return out, dropped


def trajectory(ctx: RunContext, limit: int = 6) -> str:
    """Earlier instructions with their dev scores, best last (OPRO's meta-prompt order)."""
    scored = [ev for ev in ctx.state.evaluations.values() if ev.dev]
    scored.sort(key=lambda ev: (ev.mean("dev") or 0.0, -ev.round))
    lines = []
    for ev in scored[-limit:]:
        short = clipped(ev.candidate.instruction, 200)
        extra = f" + {len(ev.candidate.demos)} worked examples" if ev.candidate.demos else ""
        lines.append(f"- dev {score_text(ev.mean('dev'))}{extra}: {short}")
    return "\n".join(lines) or "- (none yet)"


def edit_values(ctx: RunContext, parent: Evaluation, critiques: str, round_no: int) -> dict[str, str]:
    """The variables of the edit template: the parent, its error pattern and failures, the trajectory."""
    s, state = ctx.scenario, ctx.state
    kind = metric_kind(ctx)
    train = s.splits.train
    rng = random.Random(s.seed * 31 + round_no)
    failing = pick_failures(kind, train, parent.train, ENGINEER_FAILURES, rng)
    return draft_values(ctx, round_no, parent.candidate.reasoning) | {
        "instruction": parent.candidate.instruction,
        "best_score": score_text(parent.mean("dev")),
        "trajectory": trajectory(ctx),
        "error_pattern": error_pattern(kind, train, parent.train),
        "failures": failures_block(failing, parent.outputs, parent.train),
        "critiques": critiques,
        "reviewer": state.pending_feedback or "(none)",
    }


async def edits(ctx: RunContext, parent: Evaluation, critiques: str, round_no: int, per_round: int) -> list[Candidate]:
    """Later rounds: the operators this round asks for, applied to the best prompt so far."""
    s = ctx.scenario
    cycle = OperatorCycle(per_round, labeled_classes=len(labels_of(ctx)) > 1,
                          reasoning_room=ctx.executor.max_tokens >= REASONING_ROOM)
    ops = cycle.pick(round_no, parent.candidate) if s.search.edits == "all" else ["demos"]
    values = edit_values(ctx, parent, critiques, round_no)
    card = ctx.engineer.card
    base = parent.candidate
    # The round's new worked examples come first: while the parent has none, every instruction edit carries
    # them, so it competes with the draw on its instructions alone (MIPROv2 searches instructions and examples
    # together). Zero-shot edits against a few-shot draw lost every round 2 on trec (0 of 6 reached dev).
    drawn = await with_new_demos(ctx, parent, round_no) if "demos" in ops else None
    carry = drawn if drawn is not None and not base.demos else base
    inputs = [e.input for e in (*s.splits.train, *s.splits.dev)]  # an instruction quotes none of them
    before = f"{base.instruction}\n{s.task}"  # what an edit may repeat: a phrase or a choice already there

    def objection(op: Operator) -> Callable[[str], str | None]:
        def against(prompt: str) -> str | None:
            """Why an edit of the instructions is no candidate, or None."""
            pasted = copied_input(prompt, before, inputs)
            if pasted is not None:  # the 0.5B added "What is a specimen of basidiomycetes?" under trec's labels
                return f'it pasted the input "{clipped(pasted, 60)}" into the instructions'
            invented = invented_label(ctx, before, prompt)
            if invented is not None:  # sst2: "classify ... as positive, negative, or neutral"
                return invented
            if op in ADDITIONS:  # the instructions are kept whole, and the addition must add something
                return (None if added_sentences(base.instruction, prompt)
                        else "it only repeats the current instructions, with no sentence they do not have yet")
            gone = dropped_labels(labels_of(ctx), base.instruction, prompt)
            if gone:  # the task model cannot answer with a label it is not told of
                return f"it dropped the label{'s' if len(gone) > 1 else ''} {', '.join(gone)} the instructions name"
            return None
        return against

    async def ask(op: Operator, seed: int) -> tuple[str | None, str, str | None]:
        if op == "define_labels":  # the instructions are not shown: asked to add to them, the 1.5B handed them back
            return await ask_engineer(ctx, "labels", ctx.base_values() | {
                "round": str(round_no), "label_examples": label_examples(ctx, parent, round_no)}, seed, round_no,
                objection(op))
        op_values = values | ({"output_rule": output_rule(ctx, True)} if op == "reason_first" else {})
        return await ask_engineer(ctx, "add" if op in ADDITIONS else "edit",
                                  op_values | {"operator": card.render(f"operator_{op}", **op_values)}, seed, round_no,
                                  objection(op))

    async def apply(op: Operator, i: int) -> Candidate | None:
        if op == "demos":
            return drawn
        prompt, changes, error = await ask(op, s.seed + 100 * round_no + i)
        if prompt is not None and op in ADDITIONS:  # the instructions, then what the addition adds to them
            prompt = f"{base.instruction.rstrip()}\n{added_sentences(base.instruction, prompt)}"
        if prompt is None:
            return Candidate(instruction=base.instruction, operator="fallback", parent=parent.key,
                             changes=f"({op} unusable: {error})")
        if op == "reason_first":  # worked examples that show the label alone would teach the model not to reason
            return Candidate(instruction=prompt, reasoning=True, operator=op, parent=parent.key, changes=changes)
        if carry is not base:
            changes = (f"{changes} " if changes else "") + f"(with this round's {len(carry.demos)} new worked examples)"
        return Candidate(instruction=prompt, demos=carry.demos, replies=carry.replies, reasoning=base.reasoning,
                         operator=op, parent=parent.key, changes=changes)

    found = await gather_all(apply(op, i) for i, op in enumerate(ops))
    ctx.state.pending_feedback = None
    return [c for c in found if c is not None]  # None: no demos edit this round


LABEL_EXAMPLES = 3  # train inputs per label the define_labels request shows


def label_examples(ctx: RunContext, parent: Evaluation, round_no: int) -> str:
    """Train inputs under each label, for the define_labels request: per label, the inputs the parent got wrong
    first (what the definitions must settle), then others, short ones only (every one is read by the engineer)."""
    s = ctx.scenario
    rng = random.Random(s.seed * 59 + round_no)
    blocks = []
    for label in labels_of(ctx):
        members = [e for e in s.splits.train if e.target == label and len(e.input) <= 300]
        rng.shuffle(members)
        members.sort(key=lambda e: not (e.id in parent.train and parent.train[e.id].score < 1))  # stable
        if members:
            lines = "\n".join(f"- {' '.join(e.input.split())}" for e in members[:LABEL_EXAMPLES])
            blocks.append(f"{label}:\n{lines}")
    return "\n".join(blocks) or "(no train inputs)"


def added_sentences(instruction: str, text: str) -> str:
    """What an addition adds to the instructions: its sentences the instructions do not already have, in
    order (a small engineer often hands the instructions back first, whole or in part)."""
    have = " ".join(instruction.split()).lower()
    new = []
    for part in _SENTENCES.split(LEFT_OFF.sub("", text).strip())[::2]:
        sentence = " ".join(part.split())
        if sentence and sentence.lower() not in have and sentence.lower() not in " ".join(new).lower():
            new.append(sentence)
    return " ".join(new)


async def refill(ctx: RunContext, parent: Evaluation, round_no: int, found: list[Candidate],
                 want: int) -> list[Candidate]:
    """The round's candidates, with the places of dropped edits taken by other draws of worked examples
    (no engineer call, and no run to find more right replies to show): a round is then still a choice
    among `want` candidates rather than one."""
    for draw in range(1, 2 * want):
        if len(found) >= want:
            break
        extra = await with_new_demos(ctx, parent, round_no, draw, look_further=False, taken=found)
        if extra is None:
            break
        found = usable(ctx, [*found, extra])[0]
    return found

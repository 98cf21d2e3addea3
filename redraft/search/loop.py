"""The round's candidate search on labeled scenarios: several candidates per round, different on
purpose, screened cheaply before the expensive evaluation.

Round 1 draws seven drafts (about what best-of-N draws at the chat's calls), runs each on a train
minibatch and the best two on dev, and keeps the best on dev, so the chat starts where best-of-N
ends. A prompt's sentences written as the engineer's reply to a user ("Understood.", "Please provide
the problem.") are taken out; a prompt that is nothing else is no candidate.
Later rounds edit the best prompt so far with named operators (worked examples from train, sentences
added against the most frequent errors, decision rules, the output instruction, a simpler prompt);
an edit whose place is lost (a repeat, an unusable reply) goes to another draw of worked examples. Each
edit runs on a train minibatch that is half the parent's known failures, and only edits that beat
the parent there go on to the full dev set (GEPA's minibatch gate); when none does, one that ties it
with different answers goes instead. A prompt run once is never run again: every output is kept per
prompt and example.
"""

from __future__ import annotations

import random
import re
from typing import Sequence

from ..records.candidate import ADDITIONS, Candidate, Evaluation, Operator, prompt_key
from .policies import OperatorCycle, demo_count, pick_demos, screening_batch
from .context import RunContext
from ..eval.critique import Proposal, proposal_schema
from ..config.data import Example
from ..eval.diagnosis import error_pattern, failures_block, pick_failures, top_error
from .evaluate import gather_all, metric_results, run_prompt
from ..llm.client import JsonReply
from ..records.results import score_text
from ..records.state import CandidateResult, RoundRecord

SHOWN_FAILURES = 6
REASONING_ROOM = 100  # the fewest reply tokens in which a small model can work through an input before answering


def labels_of(ctx: RunContext) -> list[str]:
    """The metric's labels (empty when the metric has none)."""
    spec = ctx.scenario.metric
    return list(spec.labels or []) if spec is not None else []


def metric_kind(ctx: RunContext) -> str:
    """The metric's type, which decides how errors are grouped (labels, numbers, or right/wrong)."""
    return ctx.scenario.metric.type if ctx.scenario.metric else "exact"


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


async def ask_engineer(ctx: RunContext, template: str, values: dict[str, str], seed: int,
                       round_no: int) -> tuple[str | None, str, str | None]:
    """One request to the Prompt Engineer: (the prompt or None, what changed, why the reply was unusable)."""
    seat, card = ctx.engineer, ctx.engineer.card
    parsed = await ctx.caller.complete_json(JsonReply(Proposal, proposal_schema()), seat.sampling, round_no=round_no,
                                            system=card.render_system(values), user=card.render(template, **values),
                                            seed=seed)
    if parsed.value is not None and parsed.value.prompt.strip():
        prompt, changes = parsed.value.prompt.strip(), parsed.value.changes.strip()
        kept, dropped = without_replies(prompt)
        if reads_as_reply(kept) or (dropped and len(kept.split()) < LEAST_WORDS):
            short = " ".join(prompt.split())
            return None, "", f"written as a reply to the user, not a prompt: {short[:80]!r}"
        if dropped:
            changes = (f"{changes} " if changes else "") + f"(without {len(dropped)} sentence(s) to the user: {dropped[0][:60]!r})"
        return kept, changes, None
    return None, "", parsed.error


def draft_values(ctx: RunContext, round_no: int = 1, reasoning: bool = False) -> dict[str, str]:
    """The variables of the draft template."""
    return ctx.base_values() | {"round": str(round_no), "output_rule": output_rule(ctx, reasoning)}


async def draft(ctx: RunContext, seed: int, round_no: int = 1) -> Candidate:
    """One draft from the meta-instruction (a single shot is exactly this)."""
    prompt, changes, error = await ask_engineer(ctx, "draft", draft_values(ctx, round_no), seed, round_no)
    if prompt is None:
        return Candidate(instruction=ctx.scenario.task.strip(), operator="fallback",
                         changes=f"(draft unusable: {error})")
    return Candidate(instruction=prompt, operator="draft", changes=changes)


async def drafts(ctx: RunContext, n: int) -> list[Candidate]:
    """Round 1: n drafts side by side, each with its own seed (an unusable one comes back as a fallback)."""
    s = ctx.scenario
    found = [Candidate(instruction=s.seed_prompt.strip(), operator="seed",
                       changes="the scenario's seed prompt, scored as given")] if s.seed_prompt else []
    return found + await gather_all(draft(ctx, s.seed + 1 + i) for i in range(n - len(found)))


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
        short = " ".join(ev.candidate.instruction.split())
        short = short if len(short) <= 200 else short[:197] + "..."
        extra = f" + {len(ev.candidate.demos)} worked examples" if ev.candidate.demos else ""
        lines.append(f"- dev {score_text(ev.mean('dev'))}{extra}: {short}")
    return "\n".join(lines) or "- (none yet)"


def edit_values(ctx: RunContext, parent: Evaluation, critiques: str, round_no: int) -> dict[str, str]:
    """The variables of the edit template: the parent, its error pattern and failures, the trajectory."""
    s, state = ctx.scenario, ctx.state
    kind = metric_kind(ctx)
    train = s.splits.train
    rng = random.Random(s.seed * 31 + round_no)
    failing = pick_failures(kind, train, parent.train, SHOWN_FAILURES, rng)
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
    ops = cycle.pick(round_no, parent.candidate)
    values = edit_values(ctx, parent, critiques, round_no)
    card = ctx.engineer.card
    base = parent.candidate

    async def apply(op: Operator, i: int) -> Candidate | None:
        if op == "demos":
            return await with_new_demos(ctx, parent, round_no)
        op_values = values | ({"output_rule": output_rule(ctx, True)} if op == "reason_first" else {})
        prompt, changes, error = await ask_engineer(
            ctx, "add" if op in ADDITIONS else "edit", op_values | {"operator": card.render(f"operator_{op}", **op_values)},
            s.seed + 100 * round_no + i, round_no)
        if prompt is not None and op in ADDITIONS:  # the instructions, then what the addition adds to them
            added = added_sentences(base.instruction, prompt)
            prompt, error = ((f"{base.instruction.rstrip()}\n{added}", None) if added
                             else (None, "it only repeats the current instructions"))
        if prompt is None:
            return Candidate(instruction=base.instruction, operator="fallback", parent=parent.key,
                             changes=f"({op} unusable: {error})")
        if op == "reason_first":  # worked examples that show the label alone would teach the model not to reason
            return Candidate(instruction=prompt, reasoning=True, operator=op, parent=parent.key, changes=changes)
        return Candidate(instruction=prompt, demos=base.demos, replies=base.replies, reasoning=base.reasoning,
                         operator=op, parent=parent.key, changes=changes)

    found = await gather_all(apply(op, i) for i, op in enumerate(ops))
    ctx.state.pending_feedback = None
    return [c for c in found if c is not None]  # None: no demos edit this round


def added_sentences(instruction: str, text: str) -> str:
    """What an addition adds to the instructions: its sentences the instructions do not already have, in
    order (a small engineer often hands the instructions back first, whole or in part)."""
    have = " ".join(instruction.split()).lower()
    new = []
    for part in _SENTENCES.split(text.strip())[::2]:
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


async def with_new_demos(ctx: RunContext, parent: Evaluation, round_no: int, draw: int = 0,
                         look_further: bool = True, taken: Sequence[Candidate] = ()) -> Candidate | None:
    """The parent's instruction with worked examples from train, mined from what it gets wrong: a set of
    examples it has not been tried with yet (in an earlier round, or in `taken`, this round's candidates),
    or None when a few draws find no new set.

    Where replies carry working (numbers, or a prompt that reasons before its label), an example shows a
    right reply of the task model itself, working included (DSPy's bootstrapped demonstrations). Those
    come from the train examples some prompt has run on, so while fewer than 2k of them are new to the
    parent's examples, the parent is first run on more train examples to find some (on svamp, four
    rounds of screening alone left 5 right replies, and a round's "new" sets were the same four examples
    in another order); when there are too few there is no such edit this round. A target alone would
    teach the task model to skip its working (on svamp, worked examples of bare answers had the 0.5B
    answer 10 to 8 of 30 questions). Where the reply is the label alone, the examples show their targets.
    """
    s = ctx.scenario
    kind = metric_kind(ctx)
    rng = random.Random(s.seed * 7 + round_no + 1009 * draw)
    k = s.search.demos if s.search.demos is not None else demo_count(len(labels_of(ctx)))
    base = parent.candidate
    tried = {frozenset(c.demos) for c in [*(ev.candidate for ev in ctx.state.evaluations.values()), *taken]
             if c.instruction == base.instruction and c.reasoning == base.reasoning}
    traces: dict[str, str] = {}
    shows_replies = kind == "numeric" or base.reasoning
    if shows_replies:
        need = min(k, 2)
        traces = right_replies(ctx, base.reasoning, reply_limit(ctx))
        if look_further and sum(1 for i in traces if i not in base.demos) < 2 * k:
            # a top-up costs what screening one more candidate does
            await bootstrap(ctx, parent, round_no, size=2 * k if len(traces) < need else s.minibatch)
            traces = right_replies(ctx, base.reasoning, reply_limit(ctx))
        if len(traces) < need:
            return None
        pool = [e for e in s.splits.train if e.id in traces]
    else:
        pool = list(s.splits.train)
    wrong = pick_failures(kind, s.splits.train, parent.train, k, rng)
    for _ in range(5):  # another draw when this set was tried already (a small pool repeats itself)
        picked = pick_demos(pool, k, rng, prefer=wrong, avoid=base.demos)
        if frozenset(e.id for e in picked) not in tried:
            break
    else:
        return None
    replies = {e.id: traces[e.id] for e in picked} if shows_replies else {}
    what = "swapped the worked examples for" if base.demos else "added"
    how = " (the task model's own right replies, working included)" if replies else ""
    which = f" (draw {draw + 1}, in place of a dropped edit)" if draw else ""
    return Candidate(instruction=base.instruction, demos=[e.id for e in picked], replies=replies,
                     reasoning=base.reasoning, operator="demos", parent=parent.key,
                     changes=f"{what} {len(picked)} worked examples from train{how}, "
                             f"{sum(1 for e in picked if e in wrong)} of them inputs the prompt got wrong{which}")


def reply_limit(ctx: RunContext) -> int:
    """The longest reply a worked example may show: about what the executor may write (4 characters a
    token), and at least 600 characters."""
    return max(600, 4 * ctx.executor.max_tokens)


async def bootstrap(ctx: RunContext, parent: Evaluation, round_no: int, size: int) -> None:
    """Run the parent on train examples it has not seen (at most `size`), to find right replies."""
    rng = random.Random(ctx.scenario.seed * 13 + round_no)
    unseen = [e for e in ctx.scenario.splits.train if e.id not in parent.outputs]
    rng.shuffle(unseen)
    if unseen[:size]:
        await run(ctx, parent.candidate, unseen[:size], round_no)


def right_replies(ctx: RunContext, reasoning: bool, limit: int = 600) -> dict[str, str]:
    """Per train example, a reply the task model got right under some prompt so far (of the same reply
    style), with its working and not over `limit` characters: the worked examples a bootstrapped prompt
    can show."""
    found: dict[str, str] = {}
    for ev in ctx.state.evaluations.values():
        if ev.candidate.reasoning != reasoning:
            continue
        for i, r in ev.train.items():
            reply = ev.outputs.get(i, "").strip()
            if r.score >= 1 and len(reply) <= limit and shows_working(reply) and i not in found:
                found[i] = reply
    return found


_ANSWER_LINE = re.compile(r"(?i)^\W*(?:the\s+)?(?:final\s+)?answer\b")


def shows_working(reply: str, least: int = 5) -> bool:
    """Whether a reply works through the input before its answer: at least `least` characters besides a
    closing answer line ("Answer: 450", "The answer is 450."). Right bare answers shown as the last
    assistant turns taught the 0.5B to skip its working (on svamp, such an example set scored 0.07 on
    dev against its parent's 0.33)."""
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    if lines and _ANSWER_LINE.match(lines[-1]):
        lines = lines[:-1]
    return len(" ".join(lines)) >= least


async def run(ctx: RunContext, candidate: Candidate, examples: Sequence[Example], round_no: int) -> Evaluation:
    """Run a candidate on the examples it has not been run on yet, and score them; keep everything."""
    s, state = ctx.scenario, ctx.state
    prompt = candidate.prompt(s.splits.train)
    key = prompt_key(prompt)
    ev = state.evaluations.get(key)
    if ev is None:
        ev = state.evaluations[key] = Evaluation(key=key, candidate=candidate, prompt=prompt, round=round_no)
    todo = [e for e in examples if e.id not in ev.outputs]
    if todo:
        ev.outputs |= await run_prompt(ctx, prompt, todo, round_no)
    dev_ids = {e.id for e in s.splits.dev}
    results = metric_results(ctx, list(examples), ev.outputs)
    for i, r in results.items():
        (ev.dev if i in dev_ids else ev.train)[i] = r
    return ev


async def screen(ctx: RunContext, parent: Evaluation, candidates: Sequence[Candidate], round_no: int,
                 size: int) -> tuple[list[Example], list[Evaluation]]:
    """Each candidate and the parent on one failure-enriched train minibatch.

    A parent with too few known failures is first run on more train examples to find some: a batch
    it gets all right can only rank edits as no better (GEPA's "all subsample scores perfect").
    """
    s = ctx.scenario
    rng = random.Random(s.seed * 7919 + round_no)
    if sum(1 for r in parent.train.values() if r.score < 1) < size // 2:
        unseen = [e for e in s.splits.train if e.id not in parent.train]
        await run(ctx, parent.candidate, rng.sample(unseen, min(len(unseen), size)), round_no)
    batch = screening_batch(s.splits.train, parent, size, rng)
    runs = await gather_all(run(ctx, c, batch, round_no) for c in [parent.candidate, *candidates])
    return batch, runs[1:]


def promoted(parent: Evaluation, screened: Sequence[Evaluation], batch: Sequence[Example], limit: int) -> list[Evaluation]:
    """The edits that go on to full dev, at most `limit`: those that beat the parent on the minibatch
    (strictly), best first; when none does, one that ties it with other answers on the minibatch (the one
    that answers most differently). A minibatch of eight ranks too coarsely to tell a tie with new answers
    from no change, and only dev can; a tie that answers exactly as the parent did is no change."""
    ids = [e.id for e in batch]
    base = parent.total(ids)
    better = [ev for ev in screened if ev.total(ids) > base]
    better.sort(key=lambda ev: -ev.total(ids))
    if better:
        return better[:limit]

    def changed(ev: Evaluation) -> int:
        return sum(1 for i in ids if ev.outputs.get(i, "").strip() != parent.outputs.get(i, "").strip())

    ties = [ev for ev in screened if ev.total(ids) == base and changed(ev) > 0]
    return sorted(ties, key=lambda ev: -changed(ev))[:1]


def best_on_dev(evaluations: Sequence[Evaluation]) -> Evaluation | None:
    """The evaluation with the highest dev mean (the first of equals)."""
    scored = [ev for ev in evaluations if ev.dev]
    return max(scored, key=lambda ev: ev.mean("dev") or 0.0) if scored else None




def parent_of(ctx: RunContext) -> Evaluation | None:
    """The evaluation of the best prompt so far: what this round edits."""
    best = ctx.state.best()
    return ctx.state.evaluations.get(prompt_key(best.prompt)) if best is not None else None


async def propose(ctx: RunContext, round_no: int, critiques: str) -> tuple[list[Candidate], list[str]]:
    """The round's candidates: the reviewer's edit, round 1's drafts, or named edits of the best so far;
    and why each proposal that is no candidate was dropped."""
    s, state = ctx.scenario, ctx.state
    if state.pending_edit:
        found = [Candidate(instruction=state.pending_edit, operator="reviewer", changes="edited by the reviewer")]
        state.pending_edit = None
        return found, []
    parent = parent_of(ctx)
    if parent is None:
        found, dropped = usable(ctx, await drafts(ctx, s.search.drafts))
    else:
        found, dropped = usable(ctx, await edits(ctx, parent, critiques, round_no, s.search.candidates))
        found = await refill(ctx, parent, round_no, found, s.search.candidates)
    if found:
        return found, dropped
    # Every reply repeated an earlier prompt or was unusable: the best so far stands (its outputs are kept, so
    # this costs nothing).
    base = parent.candidate if parent is not None else Candidate(instruction=s.task.strip())
    return [Candidate(instruction=base.instruction, demos=base.demos, operator="fallback",
                      parent=parent.key if parent else None,
                      changes="no new candidate this round (repeats or unusable replies); the best prompt so far stands")], dropped


async def evaluate_round(ctx: RunContext, record: RoundRecord, proposed: Sequence[Candidate]) -> None:
    """Screen and score the round's candidates, and make the round's record the best of them."""
    s = ctx.scenario
    parent = parent_of(ctx)
    n = record.round
    if parent is None or all(c.operator == "reviewer" for c in proposed):
        batch = random.Random(s.seed * 7919 + n).sample(list(s.splits.train), min(s.minibatch, len(s.splits.train)))
        batch.sort(key=list(s.splits.train).index)
        if len(proposed) > s.search.draft_dev:  # round 1's many drafts: the minibatch first, the best on to dev
            ids = [e.id for e in batch]
            screened = await gather_all(run(ctx, c, batch, n) for c in proposed)
            going = sorted(screened, key=lambda ev: -ev.total(ids))[: s.search.draft_dev]  # the first of equals
            await gather_all(run(ctx, ev.candidate, s.splits.dev, n) for ev in going)
            chosen = best_on_dev(going) or going[0]
            results = [(ev, None) for ev in screened]
        else:
            runs = await gather_all(run(ctx, c, s.splits.dev, n) for c in proposed)
            chosen = best_on_dev(runs) or runs[0]
            await run(ctx, chosen.candidate, batch, n)
            results = [(ev, None) for ev in runs]
    else:
        batch, screened = await screen(ctx, parent, proposed, n, s.minibatch)
        going = promoted(parent, screened, batch, s.search.promote)
        await gather_all(run(ctx, ev.candidate, s.splits.dev, n) for ev in going)
        ids = [e.id for e in batch]
        chosen = best_on_dev(going) or max(screened, key=lambda ev: ev.total(ids))
        results = [(ev, parent.mean("train", ids)) for ev in screened]
    fill_record(record, chosen, [e.id for e in batch], results)


def fill_record(record: RoundRecord, chosen: Evaluation, batch: list[str],
                results: Sequence[tuple[Evaluation, float | None]]) -> None:
    """The round's record: the chosen candidate's prompt, minibatch and dev results, and every candidate's scores."""
    record.prompt, record.origin, record.changes = chosen.prompt, chosen.candidate.operator, chosen.candidate.changes
    record.stand_in = chosen.candidate.operator == "fallback" and chosen.candidate.parent is None  # the task's text
    record.batch = batch
    record.outputs = {i: chosen.outputs[i] for i in [*batch, *chosen.dev] if i in chosen.outputs}
    record.train = {i: chosen.train[i] for i in batch if i in chosen.train}
    record.dev = dict(chosen.dev)
    record.candidates = [
        CandidateResult(key=ev.key, operator=ev.candidate.operator, changes=ev.candidate.changes,
                        screen=ev.mean("train", batch), parent_screen=parent_screen, dev=ev.mean("dev"),
                        chosen=ev.key == chosen.key)
        for ev, parent_screen in results
    ]


def candidates_text(record: RoundRecord) -> str:
    """One line per candidate: the edit, its minibatch score against its parent's, its dev score."""
    lines = []
    for i, c in enumerate(record.candidates, 1):
        screen = "" if c.screen is None else f"minibatch {score_text(c.screen)}"
        if c.parent_screen is not None:
            screen += f" (parent {score_text(c.parent_screen)})"
        dev = f"dev {score_text(c.dev)}" if c.dev is not None else "not promoted to dev"
        mark = "  <- chosen" if c.chosen else ""
        lines.append(f"[{i}] {c.operator}: {', '.join(x for x in (screen, dev) if x)}{mark}")
    return "\n".join(lines)


def focus_from_errors(ctx: RunContext) -> str:
    """What the next round should fix, from the best prompt's most frequent error on train."""
    parent = parent_of(ctx)
    s = ctx.scenario
    if parent is None:
        return "get a first prompt scored"
    top = top_error(metric_kind(ctx), s.splits.train, parent.train)
    return f"fix the most frequent error on train: {top}" if top else "keep what works; no error seen on train yet"

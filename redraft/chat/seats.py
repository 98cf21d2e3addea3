"""The seats at the table as AgentChat agents. Each builds its own request from the run state,
so a small model sees a short, focused context instead of the whole chat."""

from __future__ import annotations

from typing import AsyncGenerator, Sequence

from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.base import Response
from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage, StopMessage, TextMessage
from autogen_core import CancellationToken
from autogen_core.models import SystemMessage, UserMessage

from ..eval import (CriticResult, Proposal, aggregate, copied_input, error_pattern, failed_checks, missing_facts,
                    new_numbers, proposal_schema, rank_correlation, restore_facts)
from ..eval import cut_loop
from ..llm import JsonReply, Objection
from ..records import (FOCUS_NOTE_MAX, LEFT_OFF, RoundRecord, RunState, agreement_text, clipped, prompt_key, score_text,
                       split_prompt, with_examples, wording)
from ..search import (RunContext, Seat, candidates_text, evaluate_round, failures_text, focus_from_errors,
                      metric_kind, metric_results, minibatch_of, panel_results, parent_of, propose_candidates,
                      rescoring_noise, run_prompt, teacher_examples)
from ..search.pairwise import judge_pairs
from ..search.propose import added_sentences


def _msg(source: str, content: str, kind: str, round_no: int) -> TextMessage:
    return TextMessage(source=source, content=content, metadata={"kind": kind, "round": str(round_no)})


class _KeepsErrors(BaseChatAgent):
    """A seat whose failed turn's exception is kept for the run (AgentChat re-raises it as RuntimeError(str))."""

    table: RunContext

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        return (TextMessage, StopMessage)

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        pass

    async def on_messages_stream(
        self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken
    ) -> AsyncGenerator[BaseAgentEvent | BaseChatMessage | Response, None]:
        async for item in self.table.failed.watch(self._stream(messages, cancellation_token)):
            yield item

    async def on_messages(self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken) -> Response:
        response = None
        async for item in self._stream(messages, cancellation_token):
            if isinstance(item, Response):
                response = item
        assert response is not None
        return response

    async def _stream(
        self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken
    ) -> AsyncGenerator[BaseAgentEvent | BaseChatMessage | Response, None]:
        yield await self.turn()

    async def turn(self) -> Response:
        raise NotImplementedError


class _Seated(_KeepsErrors):
    def __init__(self, seat: Seat, table: RunContext):
        super().__init__(seat.name, seat.card.description.strip())
        self.seat = seat
        self.table = table


class PromptEngineer(_Seated):
    """Proposes prompt vN: drafts from a meta-instruction, or edits the best prompt so far."""

    async def turn(self) -> Response:
        state, s = self.table.state, self.table.scenario
        n = state.round + 1
        if s.labeled:
            return await self._candidates(n)
        if state.pending_edit:
            record = RoundRecord(round=n, prompt=state.pending_edit, changes="edited by the reviewer", origin="reviewer")
            state.pending_edit = None
        elif n == 1:  # the user's own prompt: what every proposal has to beat
            record = RoundRecord(round=n, prompt=s.start_prompt, changes=s.start_changes, origin="start")
        else:
            record = await self._propose(n)
        state.rounds.append(record)
        text = f"Prompt v{n}:\n{record.prompt}\n\nWhat changed: {record.changes or '(not said)'}"
        return Response(chat_message=_msg(self.name, text, "proposal", n))

    async def _candidates(self, n: int) -> Response:
        """Labeled scenarios: several candidates, different on purpose (see search/round.py)."""
        t, state = self.table, self.table.state
        last = state.rounds[-1] if state.rounds else None
        state.proposed, dropped = await propose_candidates(t, n, _critiques(last) if last else "- (none yet)")
        train = t.scenario.splits.train
        first = state.proposed[0]
        state.rounds.append(RoundRecord(round=n, prompt=first.prompt(train), changes=first.changes, origin=first.operator))
        parts = [f"Candidates for v{n} ({len(state.proposed)}):"]
        for i, c in enumerate(state.proposed, 1):
            demos = f"\n    + {len(c.demos)} worked examples from train" if c.demos else ""
            parts.append(f"[{i}] {c.operator}: {c.changes or '(not said)'}\n    {c.instruction}{demos}")
        if dropped:
            parts.append(f"Dropped ({len(dropped)}):")
            parts += [f"- {why}" for why in dropped]
        return Response(chat_message=_msg(self.name, "\n".join(parts), "proposal", n))

    async def _propose(self, n: int) -> RoundRecord:
        """Rubric scenarios: with `search.demos`, worked examples in even rounds (the optimizer model's replies,
        checked; every round in compare's demos_only arm); the engineer's revision of the instructions in the
        others, the examples kept."""
        t, state = self.table, self.table.state
        # round 1 is the user's own prompt, so there is always a round to revise
        anchor = state.best() or state.rounds[-1]
        instruction, shown = split_prompt(anchor.prompt)
        if t.scenario.search.demos and (t.scenario.search.edits == "demos" or n % 2 == 0):
            made = await teacher_examples(t, instruction, n, replacing=bool(shown))
            if made is not None:
                state.pending_feedback = None
                return RoundRecord(round=n, prompt=made[0], changes=made[1], origin="demos")
        record = await self._revise(n, anchor, instruction)
        if record.origin == "fallback":
            return record
        unfaithful = self._unfaithful(record.prompt, instruction)
        if unfaithful:
            # No candidate: a prompt that answers one customer's email, or promises what the policy does not.
            return RoundRecord(round=n, prompt=anchor.prompt, origin="fallback", stand_in=anchor.stand_in,
                               changes=f"(revision not used: {unfaithful}; kept the previous prompt)")
        # Where the scenario declares hard constraints (checks), the task's facts (its numbers, the quoted signature)
        # stay in the prompt too: a revision that drops one the best prompt stated gets the task's own sentence back.
        revised, gone = restore_facts(t.scenario.task, record.prompt, before=instruction)
        if gone and t.scenario.checks is not None:
            record.prompt = revised
            record.changes += f" (the task's sentences stating {', '.join(gone)} put back: the revision dropped them)"
        record.prompt = with_examples(record.prompt, shown)
        return record

    def _unfaithful(self, prompt: str, instruction: str) -> str | None:
        """Why a revision of `instruction` is no candidate: it pastes an input of train or dev into the prompt (the
        1.5B did, on support_reply: every reply then answered that email), or, where the scenario declares checks,
        it drops a number of the task and states one neither the task nor the best prompt does (the 1.5B turned
        "opened electronics only within 14 days" into 21). Else None."""
        s = self.table.scenario
        pasted = copied_input(prompt, f"{instruction}\n{s.task}", [e.input for e in (*s.splits.train, *s.splits.dev)])
        if pasted is not None:
            return f'it pasted the input "{clipped(pasted, 60)}" into the prompt'
        if s.checks is not None:
            gone, new = missing_facts(s.task, prompt, before=instruction), new_numbers(prompt, s.task, instruction)
            if gone and new:
                return f"it changed the task's {', '.join(gone)} to {', '.join(new)}"
        return None

    async def _revise(self, n: int, anchor: RoundRecord, instruction: str) -> RoundRecord:
        """The engineer's revision of the best prompt's instructions (its worked examples are not shown to it)."""
        t, state, card = self.table, self.table.state, self.seat.card
        values = t.base_values() | {"round": str(n)}
        last = state.rounds[-1]
        values |= {
            "best_round": str(anchor.round),
            "best_score": score_text(anchor.score),
            "scale": t.scenario.scale.text,
            "best_prompt": instruction,
            "trajectory": _trajectory(state),
            "critiques": _critiques(last),
            "failures": failures_text(t, last),
            "focus": last.focus or "the weakest criterion",
            "reviewer": state.pending_feedback or "(none)",
        }
        user = card.render("revise", **values)
        tried = {wording(split_prompt(r.prompt)[0]) for r in state.rounds}

        def revision(reply: Proposal) -> str:
            # a sentence copied from the list of earlier versions comes without the list's "(+12 words)", and a line
            # copied from the request ("Best prompt so far (round 2, …):") is no part of a prompt
            written = LEFT_OFF.sub("", reply.prompt).strip()
            return card.without_echo("revise", written) if written else ""

        def check(reply: Proposal) -> None:
            # A revision that is no prompt, or one that pastes an email or changes the policy's numbers, goes back to
            # the engineer once with the reason; a repeat of an earlier prompt is asked for additions below instead.
            revised = revision(reply)
            why = ("its prompt was empty" if not LEFT_OFF.sub("", reply.prompt).strip()
                   else "it only copied lines of the request" if not revised
                   else None if wording(reply.prompt) in tried else self._unfaithful(revised, instruction))
            if why:
                raise Objection(why)

        parsed = await t.caller.complete_json(JsonReply(Proposal, proposal_schema(), check), self.seat.sampling,
                                              round_no=n, system=card.render_system(values), user=user,
                                              seed=t.scenario.seed + n)
        if parsed.value is not None and wording(parsed.value.prompt) in tried:
            # Handed back a prompt tried before, or one that differs only in punctuation: ask for sentences to add
            # to the best one instead.
            def check_added(reply: Proposal) -> None:
                new = added_sentences(instruction, card.without_echo("revise_add", reply.prompt))
                why = ("it only repeats the best prompt" if not new
                       else self._unfaithful(f"{instruction.rstrip()}\n{new}", instruction))
                if why:
                    raise Objection(why)

            added = await t.caller.complete_json(JsonReply(Proposal, proposal_schema(), check_added),
                                                 self.seat.sampling, round_no=n, system=card.render_system(values),
                                                 user=card.render("revise_add", **values), seed=t.scenario.seed + n + 1)
            reply = card.without_echo("revise_add", added.value.prompt) if added.value is not None else ""
            new = added_sentences(instruction, reply)
            if new and added.value is not None:
                state.pending_feedback = None
                note = added.value.changes.strip()
                return RoundRecord(round=n, prompt=f"{instruction.rstrip()}\n{new}",
                                   changes=(f"{note} " if note else "") + "(added to the best prompt: the revision repeated "
                                                                          "a prompt tried before)")
        state.pending_feedback = None
        revised = revision(parsed.value) if parsed.value is not None else ""
        if revised:
            return RoundRecord(round=n, prompt=revised,
                               changes=" ".join(x for x in (parsed.value.changes.strip(), parsed.sent_back) if x))
        # Junk from the model: keep the chat going on the best prompt so far, never on the junk.
        why = parsed.why_not or "its prompt was empty"
        return RoundRecord(round=n, prompt=anchor.prompt, changes=f"(reply unusable: {why}; kept the previous prompt)",
                           origin="fallback", stand_in=anchor.stand_in)


class TaskExecutor(_Seated):
    """Runs the candidate on a train minibatch and on every dev example, concurrently; posts the minibatch outputs."""

    async def turn(self) -> Response:
        t, record, s = self.table, self.table.state.current(), self.table.scenario
        if s.labeled:
            await evaluate_round(t, record, t.state.proposed)
            t.state.proposed = []
            lines = [f"Ran the {len(record.candidates)} candidates for v{record.round} (train minibatch of "
                     f"{len(record.batch)}, then dev for the promising ones):", candidates_text(record),
                     f"Prompt v{record.round} (the round's best):\n{record.prompt}"]
            return Response(chat_message=_msg(self.name, "\n".join(lines), "outputs", record.round))
        batch = minibatch_of(s, record.round)
        todo = {e.id: e for e in [*batch, *s.splits.dev]}
        record.batch = [e.id for e in batch]
        record.outputs = await run_prompt(t, record.prompt, list(todo.values()), record.round)
        lines = [f"Ran prompt v{record.round} on {len(batch)} train examples"
                 + (f" and {len(todo) - len(batch)} more dev examples (scored for selection)." if len(todo) > len(batch) else ".")]
        for i, e in enumerate(batch, 1):
            lines.append(f"[{i}] input: {e.input}\n    output: {record.outputs[e.id]}")
        return Response(chat_message=_msg(self.name, "\n".join(lines), "outputs", record.round))


class Evaluator(_KeepsErrors):
    """Scores outputs against targets with the scenario's metric, and shows the failing train examples."""

    def __init__(self, table: RunContext, name: str = "evaluator"):
        super().__init__(name, "Scores outputs against the labeled targets and shows the failures.")
        self.table = table

    async def turn(self) -> Response:
        t, record, s = self.table, self.table.state.current(), self.table.scenario
        by_id = {e.id: e for e in [*s.splits.train, *s.splits.dev]}
        record.train = metric_results(t, [by_id[i] for i in record.batch], record.outputs)
        record.dev = metric_results(t, [e for e in s.splits.dev if e.id in record.outputs], record.outputs)
        right = sum(1 for r in record.train.values() if r.score >= 1)
        lines = [f"Metric {t.metric.name if t.metric else ''} on v{record.round}: train {score_text(record.train_score)} "
                 f"({right}/{len(record.train)} right), dev {score_text(record.dev_score)} (n={len(record.dev)})."]
        errors = record.metric_errors
        if errors:
            lines.append(f"Metric errors on {len(errors)} of {len(record.train) + len(record.dev)} examples (each scored 0; "
                         f"fix metric.function): {errors[0]}")
        failing = failures_text(t, record)
        if failing != "(none)":
            lines.append("Failing train examples (fix these without breaking what works):\n" + failing)
        parent = parent_of(t)
        if record.candidates and parent is not None:
            lines.append("Error pattern of the best prompt so far, over every train example it ran on:\n"
                         + error_pattern(metric_kind(t), s.splits.train, parent.train))
        return Response(chat_message=_msg(self.name, "\n".join(lines), "metric", record.round))


class CriticPanel(_KeepsErrors):
    """Every critic reviews the outputs blind (no prompt, no round number), concurrently;
    each review is posted under the critic's own name, then the panel's aggregate."""

    def __init__(self, table: RunContext, name: str = "critic_panel"):
        super().__init__(name, "The critics: each scores the outputs against the criteria and names failures.")
        self.table = table

    async def _stream(
        self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken
    ) -> AsyncGenerator[BaseAgentEvent | BaseChatMessage | Response, None]:
        t, record, s = self.table, self.table.state.current(), self.table.scenario
        criteria = [c.name for c in s.criteria]
        by_id = {e.id: e for e in [*s.splits.train, *s.splits.dev]}
        # Labeled: the critics give feedback on the train minibatch; rubric-only: they also score dev.
        ids = record.batch if s.labeled else list(dict.fromkeys([*record.batch, *(e.id for e in s.splits.dev)]))
        items = [by_id[i] for i in ids]
        results, per_example = await panel_results(t, items, record.outputs, record.round, s.seed)
        record.critics = results
        record.panel = aggregate(results, criteria)
        record.panel.noise = await rescoring_noise(t, items, record.outputs, record.round, results)
        if not s.labeled:
            record.train = {i: per_example[i] for i in record.batch if i in per_example}
            record.dev = {e.id: per_example[e.id] for e in s.splits.dev if e.id in per_example}
        else:  # the metric is the score; how far do the critics' own scores follow it?
            ids = [i for i in record.batch if i in per_example and i in record.train]
            record.judge_validity = rank_correlation([per_example[i].score for i in ids], [record.train[i].score for i in ids])
        inner = [_msg(r.critic, _format_review(r), "review", record.round) for r in results]
        for m in inner:
            yield m
        p = record.panel
        parts = [f"{c} {p.mean[c]:.1f}±{p.spread[c]:.1f}" for c in criteria if c in p.mean]
        alpha = agreement_text(p.agreement)
        summary = (
            f"Panel for v{record.round}: overall {score_text(p.score)}"
            + (f" ±{p.spread['overall']:.1f}" if "overall" in p.spread else "")
            + f" ({p.n_parsed}/{p.n_critics} reviews parsed)"
            + (f"; {', '.join(parts)}" if parts else "")
            + (f"; agreement α={alpha}" if alpha != "n/a" else "")
            + (f"; judge noise sd={p.noise.mean_sd:.2f}" if p.noise and p.noise.mean_sd is not None else "")
            + (f"; judge validity (rank correlation with the metric) {record.judge_validity:+.2f}"
               if record.judge_validity is not None else "")
        )
        yield Response(chat_message=_msg(self.name, summary, "panel", record.round), inner_messages=inner)


class Moderator(_Seated):
    """Keeps the best prompt (chosen on dev, by more than the noise), decides whether to stop,
    and tells the Prompt Engineer what to fix."""

    async def turn(self) -> Response:
        t, state = self.table, self.table.state
        record = state.current()
        await self._versus_best(record)
        record.decision = t.select.decide(state, record)
        if record.decision.accepted:
            state.best_round, state.since_best = record.round, 0
        else:
            state.since_best += 1
        best = state.best()
        reason = t.stop.reason(state, record)
        head = (f"Round {record.round}: dev {score_text(record.dev_score)}, train {score_text(record.train_score)}. "
                + ("New best" if record.decision.accepted else f"Best stays round {best.round} ({score_text(best.score)})" if best else "No best yet")
                + f": {record.decision.reason}")
        if reason:
            if state.final() is None:
                reason = f"no usable prompt was found: no reply of the Prompt Engineer could be used ({reason})"
            state.stop_reason = reason
            best_txt = f"round {best.round} ({score_text(best.score)})" if best else "none (no round was scored)"
            return Response(chat_message=StopMessage(source=self.name, content=f"{head}. Stopping: {reason}. Best prompt: {best_txt}.",
                                                     metadata={"kind": "stop", "round": str(record.round)}))
        record.focus = focus_from_errors(t) if t.scenario.labeled else await self._focus(record)
        return Response(chat_message=_msg(self.name, f"{head}. Focus next: {record.focus}", "decision", record.round))

    async def _versus_best(self, record: RoundRecord) -> None:
        """Rubric scenarios with pairwise selection: the round's outputs against the best prompt's on the same
        inputs (dev and this round's minibatch, on which the best prompt is run first), each asked in both
        orders; the decision reads record.versus_best."""
        t, state, s = self.table, self.table.state, self.table.scenario
        best = state.best()
        if (s.labeled or not t.select.pairwise or best is None or best.round == record.round or not record.outputs
                or prompt_key(record.prompt) == prompt_key(best.prompt)):
            return
        by_id = {e.id: e for e in [*s.splits.train, *s.splits.dev]}
        # An input either prompt shows as a worked example is not compared: its reply there would be copied.
        shown = {given for p in (record.prompt, best.prompt) for given, _ in split_prompt(p)[1]}
        ids = [i for i in dict.fromkeys([*record.batch, *(e.id for e in s.splits.dev)])
               if i in record.outputs and by_id[i].input not in shown]
        theirs = dict(best.outputs)
        missing = [by_id[i] for i in ids if i not in theirs]
        if missing:
            theirs |= await run_prompt(t, best.prompt, missing, record.round)
        seat = Seat(card=self.seat.card, tag=self.seat.tag, temperature=0.0, max_tokens=max(self.seat.max_tokens, 200))
        record.versus_best = await judge_pairs(t, seat, [by_id[i] for i in ids], record.outputs, theirs,
                                               round_no=record.round, seed=s.seed * 101 + record.round)
        if s.checks is not None:  # counted by code: a signature or a word limit is not the comparisons' to weigh
            record.checks_failed = (sum(len(failed_checks(s.checks, record.outputs[i])) for i in ids),
                                    sum(len(failed_checks(s.checks, theirs[i])) for i in ids))
        record.versus_round = best.round

    async def _focus(self, record: RoundRecord) -> str:
        t = self.table
        p = record.panel
        crit = [c.name for c in t.scenario.criteria]
        scored = {c: p.mean[c] for c in crit if p and c in p.mean}
        weakest = min(scored, key=lambda c: scored[c]) if scored else None
        issues = [i for r in record.critics if r.review for i in r.review.issues][:6]
        default = f"raise '{weakest}' ({scored[weakest]:.1f}/10)" if weakest else "make the reviews parse: state the output format exactly"
        if issues:
            default += f"; first fix: {issues[0]}"
        values = t.base_values() | {
            "round": str(record.round),
            "scores": ", ".join(f"{c} {v:.1f}" for c, v in scored.items()) or "(no review parsed)",
            "weakest": weakest or "(unknown)",
            "issues": "\n".join(f"- {i}" for i in issues) or "- (none named)",
        }
        messages = [SystemMessage(content=self.seat.card.render_system(values)),
                    UserMessage(content=self.seat.card.render("focus", **values), source="user")]
        result = await t.caller.complete(self.seat.sampling, messages, round_no=record.round, seed=t.scenario.seed)
        note = result.content.strip() if isinstance(result.content, str) else ""
        note = cut_loop(" ".join(note.split()))[:FOCUS_NOTE_MAX]
        return f"{default}. {note}" if note else default


def _trajectory(state: RunState) -> str:
    lines = []
    for r in state.rounds[-4:]:
        short = clipped(r.prompt, 160)
        lines.append(f"- v{r.round} dev {score_text(r.dev_score)}, train {score_text(r.train_score)}: {short}")
    return "\n".join(lines) or "- (none)"


def _critiques(record: RoundRecord) -> str:
    lines = []
    for r in record.critics:
        if r.review is None:
            continue
        for i in r.review.issues[:2]:
            lines.append(f"- {r.critic}: {i}")
        for e in r.review.edits[:1]:
            lines.append(f"- {r.critic} suggests: {e}")
    return "\n".join(lines) or "- (no usable critique)"


def _format_review(r: CriticResult) -> str:
    if r.review is None:
        return f"(review unusable, not counted: {r.error})"
    scores = ", ".join(f"{k} {v}" for k, v in r.review.scores.items())
    out = [f"Per criterion (1-10): {scores} (mean {r.review.overall():.1f}); per output (1-10): {r.review.per_output}"]
    out += [f"Issue: {i}" for i in r.review.issues]
    out += [f"Edit: {e}" for e in r.review.edits]
    return "\n".join(out)

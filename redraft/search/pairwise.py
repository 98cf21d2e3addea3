"""Two outputs for one input, compared by a model in both orders (SPO's pairwise evaluation): compare's
independent judge scores arms on test with it, and on rubric scenarios the Moderator decides with it whether
a round's prompt beats the best so far, since a small panel's absolute 1-10 scores swing from 1 to 10 on one
prompt. A card's `compare` template asks; the reply names the better output or a tie."""

from __future__ import annotations

from typing import Any, Literal, Sequence

from pydantic import BaseModel, Field

from ..config import Example
from ..llm import JsonReply
from ..records import PairVerdict, Pick
from .context import RunContext, Seat
from .evaluate import gather_all

REPLY_SHAPE = '{"reason": "<one or two sentences>", "winner": "A" | "B" | "tie"}'
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"reason": {"type": "string", "maxLength": 600}, "winner": {"type": "string", "enum": ["A", "B", "tie"]}},
    "required": ["reason", "winner"],
    "additionalProperties": False,
}


class PairReply(BaseModel):
    """A comparison's reply: its reason first, so the model thinks before it picks."""

    reason: str = Field(max_length=2000)
    winner: Literal["A", "B", "tie"]


_PICK = {"A": "first", "B": "second", "tie": "tie"}
_SWAP = {"first": "second", "second": "first", "tie": "tie"}
_SCORE = {"first": 1.0, "tie": 0.5, "second": 0.0}


async def ask_pair(ctx: RunContext, seat: Seat, text: str, a: str, b: str, round_no: int, seed: int) -> Pick | None:
    """Which of two outputs for one input the seat's model finds better: "first" (a), "second" (b), "tie",
    or None for a reply that could not be used."""
    card = seat.card
    values = ctx.base_values() | {"input": text, "output_a": a or "(empty)", "output_b": b or "(empty)",
                                  "reply_shape": REPLY_SHAPE}
    parsed = await ctx.caller.complete_json(JsonReply(PairReply, SCHEMA), seat.sampling, round_no=round_no,
                                            system=card.render_system(values), user=card.render("compare", **values),
                                            seed=seed)
    return None if parsed.value is None else _PICK[parsed.value.winner]  # type: ignore[return-value]


async def judge_pairs(ctx: RunContext, seat: Seat, examples: Sequence[Example], first: dict[str, str],
                      second: dict[str, str], *, round_no: int = 0, seed: int) -> list[PairVerdict]:
    """Each example judged twice, first as A then second as A, so a model's taste for a position cancels out.
    Identical outputs are a tie without asking (preference 0.5, consistent True): no model call is spent."""

    async def one(i: int, e: Example) -> PairVerdict:
        a, b = first.get(e.id, ""), second.get(e.id, "")
        if a.strip() == b.strip():
            return PairVerdict(example_id=e.id, forward="tie", backward="tie", preference=0.5, consistent=True, asked=False)
        fwd, back = await gather_all([ask_pair(ctx, seat, e.input, a, b, round_no, seed + 2 * i),
                                      ask_pair(ctx, seat, e.input, b, a, round_no, seed + 2 * i + 1)])
        back = None if back is None else _SWAP[back]  # type: ignore[assignment]
        usable = [_SCORE[p] for p in (fwd, back) if p is not None]
        return PairVerdict(example_id=e.id, forward=fwd, backward=back,
                           preference=sum(usable) / len(usable) if usable else None,
                           consistent=fwd == back if fwd is not None and back is not None else None)

    return await gather_all(one(i, e) for i, e in enumerate(examples))

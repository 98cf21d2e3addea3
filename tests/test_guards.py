"""What a small model's junk may not do: loop until max_tokens, or pass a copy of the reply shape off as a review."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SCENARIO, ScriptedModels, proposal, read_transcript, review, run, write_scenario

from redraft.eval import Review, check_review, echoed_shape
from redraft.eval import cut_loop

# Seen on the embedded SmolLM2-135M in `make demo`.
LOOPING_CHANGES = ("refund policy; never promise anything the policy does not allow; Replies are polite; No bold "
                   "text; No enumeration; no bold text; no enumeration; no enumeration; no enumeration; no enumeration; "
                   "no enumeration; no enument;")
LOOPING_OUTPUT = "I'm here to help you find a solution. " * 5 + "I'm here to help you find a s"
LOOPING_PROMPT = ("You answer refund requests, and you're not allowed to return a damaged item, and you're not "
                  "allowed to return a damaged item that's damaged by fabric, and you're not allowed to return a "
                  "damaged item that's damaged by fabric.")
ECHO = json.dumps({"scores": {"policy": 1, "tone": 1}, "per_output": [1, 2, 3, 4], "issues": ["1-10", "1-10", "2-3"],
                   "edits": ["1-10"]})


def test_a_loop_is_cut_where_it_starts() -> None:
    assert cut_loop(LOOPING_CHANGES).endswith("No enumeration; no bold text; no enumeration")
    assert cut_loop(LOOPING_OUTPUT) == "I'm here to help you find a solution."
    assert cut_loop(LOOPING_PROMPT).endswith("that's damaged by fabric")
    assert cut_loop(LOOPING_PROMPT).count("not allowed") == 2


@pytest.mark.parametrize("text", [
    "If the ticket mentions a refund or an invoice, answer billing. If the ticket mentions a login or a password, "
    "answer account. If the ticket mentions an error or a crash, answer technical. If the ticket mentions a price "
    "or a plan, answer sales. Reply with the team name only.",
    "Refunds within 30 days of delivery; opened electronics within 14 days of delivery; books within 60 days of delivery.",
    "",
])
def test_text_that_does_not_loop_is_kept_whole(text: str) -> None:
    assert cut_loop(text) == text


def test_an_echo_of_the_reply_shape_is_not_a_review() -> None:
    echo = Review.model_validate_json(ECHO)
    assert "issues[0] is '1-10'" in (echoed_shape(echo) or "")
    count = Review(scores={"policy": 1, "tone": 1}, per_output=[1, 2, 3, 4], issues=["too long"])
    assert "per_output is [1, 2, 3, 4]" in (echoed_shape(count) or "")
    placeholder = Review(scores={"policy": 3, "tone": 4}, per_output=[3, 4, 3, 4], issues=["Concrete failures"])
    assert echoed_shape(placeholder)
    real = Review(scores={"policy": 3, "tone": 7}, per_output=[2, 4, 3, 9], issues=["ok", "promises a refund at 60 days"],
                  edits=["state the 30-day limit"])
    assert echoed_shape(real) is None
    with pytest.raises(ValueError, match="copies the requested shape"):
        check_review(["policy", "tone"], 4)(echo)


def test_looping_engineer_and_critics_are_cut_and_echoed_reviews_flagged_in_the_run(isolated: Path) -> None:
    # Round 1 is the user's own prompt (no engineer call): the looping proposal is round 2's.
    text = SCENARIO.replace("rounds: 3", "rounds: 2").replace(
        '  - "Refund for a lamp bought 60 days ago?"\n',
        '  - "Refund for a lamp bought 60 days ago?"\n  - "A cracked mug?"\n  - "Wrong colour?"\n')
    path = write_scenario(isolated, text)
    models = ScriptedModels({
        "pe": [proposal(LOOPING_PROMPT, LOOPING_CHANGES)],
        "exe": ["a", "b", "c", "d"] * 2,
        "c1": [review(5, 5, n=4), review(6, 7, [LOOPING_OUTPUT.strip()], per_output=[6, 7, 6, 7], n=4)],
        "c2": [review(5, 5, n=4), ECHO, ECHO],  # round 2: the echo, and the same again after the repair request
        "mod": ["go on"],
    })
    out = run(path, models)
    r2 = out.summary.rounds[1]
    assert r2.prompt == cut_loop(LOOPING_PROMPT) and r2.changes == cut_loop(LOOPING_CHANGES)
    assert models.requests("exe")[4]["system"] == cut_loop(LOOPING_PROMPT)  # the executor runs the cut prompt
    assert r2.critics["clarity"].issues == ["I'm here to help you find a solution."]
    assert "copies the requested shape" in r2.critics["fidelity"].error
    assert "could not be used: the reply copies the requested shape" in models.requests("c2")[2]["user"]
    assert r2.dev_score == 6.5 and r2.panel.mean["overall"] == 6.5  # only the real review counts
    lines = {ln["source"]: ln["content"] for ln in read_transcript(out.run_dir.path)}  # the last of each: round 2's
    assert lines["fidelity"].startswith("(review unusable, not counted: the reply copies the requested shape")
    assert "1/2 reviews parsed" in lines["critic_panel"]
    assert "Per criterion (1-10): policy 6, tone 7" in lines["clarity"] and "per output (1-10): [6, 7, 6, 7]" in lines["clarity"]


def test_what_the_engineer_and_the_critics_may_write_is_bounded() -> None:
    from redraft.config import load_cards
    from redraft.eval import proposal_schema, review_schema

    cards = load_cards()
    for card in cards.values():
        if card.role in ("prompt_engineer", "critic"):
            assert card.max_tokens is not None and card.max_tokens <= 512, card.name
    assert proposal_schema()["properties"]["prompt"]["maxLength"] and proposal_schema()["properties"]["changes"]["maxLength"]
    review = review_schema(["policy"], 2)["properties"]
    assert review["issues"]["maxItems"] and review["issues"]["items"]["maxLength"]

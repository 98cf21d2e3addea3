"""The round on scripted models: what each role was sent, what the transcript and run folder hold."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import SCENARIO, ScriptedModels, proposal, read_transcript, review, run, write_scenario


V1 = "You answer refund requests. Be polite."
V2 = "You answer refund requests. Refunds are allowed within 30 days of purchase only. Be polite."
V3 = "You answer refund requests. Refunds only within 30 days. Be polite and brief."


TASK = "Answer a refund request under the 30-day policy."  # SCENARIO's task: the start prompt without a seed_prompt
SEEDED = SCENARIO.replace("inputs:", f"seed_prompt: {V1}\ninputs:")  # round 1 (the start) is V1


def three_round_script() -> ScriptedModels:
    # Round 1 is the user's own prompt (the seed_prompt V1): the engineer is first asked in round 2.
    return ScriptedModels({
        "pe": [proposal(V2, "added the 30-day rule"), proposal(V3, "shortened")],
        "exe": ["Sure, refund approved.", "Sure, refund approved.",
                "Yes, within 30 days.", "Sorry, past 30 days.",
                "Yes.", "No."],
        "c1": [review(4, 5, ["approves a 60-day-old refund"], ["state the 30-day limit"]),
               review(8, 8), review(6, 6)],
        "c2": ["this is not JSON", review(4, 4, ["ignores the policy"]),
               review(8, 9), "junk", "{\"scores\": {\"policy\": 99}}"],
        "mod": ["Add the 30-day rule to the prompt.", "Keep it short."],
    })


def test_three_rounds_keep_the_best_not_the_last(isolated: Path) -> None:
    models = three_round_script()
    out = run(write_scenario(isolated, SEEDED), models)
    s = out.summary

    # Round 2 is best (dev 8.0); round 3 is worse (6.0, one review unparseable) and not kept.
    assert [r.dev_score for r in s.rounds] == [4.0, 8.0, 6.0]
    assert [r.mean["overall"] for r in s.rounds] == [4.25, 8.25, 6.0]
    assert s.best_round == 2 and s.best_score == 8.0
    assert s.rounds[1].selection.accepted and not s.rounds[2].selection.accepted
    assert s.final_prompt == V2
    assert s.stop_reason == "round limit reached (3)"
    assert s.rounds[2].critics["fidelity"].error
    assert s.rounds[2].critics["fidelity"].raw == ["junk", "{\"scores\": {\"policy\": 99}}"]
    assert s.rounds[0].spread["overall"] == 0.25
    assert s.usage.calls == 2 + 6 + 3 + 5 + 2
    assert all(models.remaining(tag) == 0 for tag in models.clients)

    # What the Prompt Engineer was sent: nothing in round 1 (the start), then edits of the best prompt so far.
    assert s.rounds[0].prompt == V1 and s.rounds[0].origin == "start"
    pe = models.requests("pe")
    assert len(pe) == 2
    assert pe[0]["args"]["response_format"]["type"] == "json_schema"
    assert V1 in pe[0]["user"] and "score 4.00" in pe[0]["user"]
    assert "approves a 60-day-old refund" in pe[0]["user"]  # critique reaches the engineer
    assert "Add the 30-day rule to the prompt." in pe[0]["user"]  # and the moderator's focus
    assert V2 in pe[1]["user"].split("Earlier versions")[0]  # the best (v2) is the one edited in round 3

    # The executor runs the candidate as the system message on each input.
    exe = models.requests("exe")
    assert [r["system"] for r in exe] == [V1, V1, V2, V2, V3, V3]
    assert exe[1]["user"] == "Refund for a lamp bought 60 days ago?"

    # Critics judge blind: they see the outputs, never the prompt; a junk reply gets one repair retry.
    c2 = models.requests("c2")
    assert "Sorry, past 30 days." in models.requests("c1")[1]["user"]
    assert all(V1 not in r["user"] and V2 not in r["user"] for r in c2)
    assert "this is not JSON" in c2[1]["messages"] and "could not be used" in c2[1]["user"]
    schema = c2[0]["args"]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["scores"]["required"] == ["policy", "tone"]
    assert schema["properties"]["issues"]["maxItems"] == 3

    # The transcript: one line per message, in order, with round, source, content and time.
    lines = read_transcript(out.run_dir.path)
    assert [ln["seq"] for ln in lines] == list(range(1, len(lines) + 1))
    assert all({"round", "source", "content", "time"} <= set(ln) for ln in lines)
    sources = [ln["source"] for ln in lines]
    assert sources[:7] == ["user", "prompt_engineer", "task_executor", "clarity", "fidelity", "critic_panel", "moderator"]
    assert sources.count("prompt_engineer") == 3 and lines[-1]["source"] == "moderator"
    assert lines[-1]["type"] == "StopMessage" and "round limit" in lines[-1]["content"]
    assert [ln["round"] for ln in lines if ln["source"] == "prompt_engineer"] == [1, 2, 3]

    # The run folder.
    folder = out.run_dir.path
    assert (folder / "prompts" / "round-3.txt").read_text().strip() == V3
    assert (folder / "final_prompt.txt").read_text().strip() == V2
    data = json.loads((folder / "summary.json").read_text())
    for key in ("scenario", "models", "rounds", "best_round", "best_score", "stop_reason", "usage", "seconds"):
        assert key in data
    assert data["models"]["clarity"]["tag"] == "c1"
    assert data["rounds"][1]["critics"]["clarity"]["scores"] == {"policy": 8, "tone": 8}
    assert set(data["usage"]) >= {"calls", "prompt_tokens", "completion_tokens"}


def test_target_score_stops_early(isolated: Path) -> None:
    path = write_scenario(isolated, SCENARIO.replace("  patience: 2", "  patience: 2\n  target_score: 7.5"))
    models = ScriptedModels({"pe": [proposal(V1)], "exe": ["a", "b"], "c1": [review(8, 8)], "c2": [review(7, 8)], "mod": []})
    s = run(path, models).summary
    assert len(s.rounds) == 1 and s.stop_reason.startswith("target score reached (8.00")


def test_patience_stops_when_nothing_improves(isolated: Path) -> None:
    path = write_scenario(isolated, SCENARIO.replace("rounds: 3", "rounds: 6"))
    models = ScriptedModels({
        "pe": [proposal(V1), proposal(V2), proposal(V3)],
        "exe": ["a"] * 6,
        "c1": [review(7, 7), review(5, 5), review(7, 7)],
        "c2": [review(7, 7), review(5, 5), review(7, 7)],
        "mod": ["x", "y"],
    })
    s = run(path, models).summary
    # Round 3 ties round 1 but does not beat it: two rounds without progress.
    assert s.stop_reason == "no progress for 2 rounds"
    assert s.best_round == 1 and len(s.rounds) == 3


def test_seed_prompt_is_scored_first_without_a_model_call(isolated: Path) -> None:
    text = SCENARIO.replace("rounds: 3", "rounds: 1").replace("inputs:", "seed_prompt: Answer refund requests.\ninputs:")
    path = write_scenario(isolated, text)
    models = ScriptedModels({"pe": [], "exe": ["a", "b"], "c1": [review(5, 5)], "c2": [review(5, 5)], "mod": []})
    s = run(path, models).summary
    assert s.rounds[0].prompt == "Answer refund requests." and s.rounds[0].origin == "start"
    assert s.rounds[0].changes == "the starting prompt (your seed_prompt), scored as given"
    assert models.requests("pe") == []


def test_without_a_seed_round_one_is_the_task_text_and_asks_no_engineer(isolated: Path) -> None:
    path = write_scenario(isolated, SCENARIO.replace("rounds: 3", "rounds: 2"))
    models = ScriptedModels({"pe": [proposal(V2)], "exe": ["a", "b", "c", "d"], "c1": [review(5, 5), review(6, 6)],
                             "c2": [review(5, 5), review(6, 6)], "mod": ["x"]})
    out = run(path, models)
    s = out.summary
    assert s.rounds[0].prompt == TASK and s.rounds[0].origin == "start"
    assert s.rounds[0].changes == "the starting prompt (your task text, as the prompt), scored as given"
    assert (out.run_dir.path / "prompts" / "round-1.txt").read_text().strip() == TASK
    # The executor ran the task text itself in round 1, before the engineer was asked anything.
    assert [r["system"] for r in models.requests("exe")] == [TASK, TASK, V2, V2]
    pe = models.requests("pe")
    assert len(pe) == 1  # round 2's revision only: round 1 made no engineer call
    assert TASK in pe[0]["user"] and "score 5.00" in pe[0]["user"]  # round 2 revises the start
    assert [ln["round"] for ln in read_transcript(out.run_dir.path) if ln["source"] == "prompt_engineer"] == [1, 2]
    assert s.rounds[1].prompt == V2 and s.rounds[1].origin == "prompt_engineer"


def test_the_start_stays_the_final_prompt_when_no_proposal_beats_it(isolated: Path) -> None:
    path = write_scenario(isolated, SCENARIO.replace("rounds: 3", "rounds: 2"))
    models = ScriptedModels({"pe": [proposal(V2)], "exe": ["a"] * 4, "c1": [review(6, 6), review(6, 6)],
                             "c2": [review(6, 6), review(5, 5)], "mod": ["x"]})
    out = run(path, models)
    s = out.summary
    assert [r.dev_score for r in s.rounds] == [6.0, 5.5]
    assert not s.rounds[1].selection.accepted
    assert s.best_round == 1 and s.final_prompt == TASK
    assert (out.run_dir.path / "final_prompt.txt").read_text().strip() == TASK


def test_a_proposal_that_ties_the_start_does_not_replace_it(isolated: Path) -> None:
    path = write_scenario(isolated, SCENARIO.replace("rounds: 3", "rounds: 2"))
    models = ScriptedModels({"pe": [proposal(V2)], "exe": ["a"] * 4, "c1": [review(6, 6), review(6, 6)],
                             "c2": [review(6, 6), review(6, 6)], "mod": ["x"]})
    s = run(path, models).summary
    assert [r.dev_score for r in s.rounds] == [6.0, 6.0]
    assert s.best_round == 1 and s.final_prompt == TASK


def test_a_proposal_that_beats_the_start_becomes_the_final_prompt(isolated: Path) -> None:
    path = write_scenario(isolated, SCENARIO.replace("rounds: 3", "rounds: 2"))
    models = ScriptedModels({"pe": [proposal(V2)], "exe": ["a"] * 4, "c1": [review(6, 6), review(7, 7)],
                             "c2": [review(6, 6), review(7, 8)], "mod": ["x"]})
    out = run(path, models)
    s = out.summary
    assert [r.dev_score for r in s.rounds] == [6.0, 7.5]
    assert s.rounds[1].selection.accepted
    assert s.best_round == 2 and s.final_prompt == V2
    assert (out.run_dir.path / "final_prompt.txt").read_text().strip() == V2


def test_engineer_junk_keeps_the_best_prompt_and_goes_on(isolated: Path) -> None:
    path = write_scenario(isolated, SCENARIO)
    models = ScriptedModels({
        "pe": [proposal(V1), "I think the prompt is fine", "still no json"],
        "exe": ["a"] * 6,
        "c1": [review(4, 4), review(6, 6), review(6, 6)],
        "c2": [review(4, 4), review(6, 6), review(6, 6)],
        "mod": ["x", "y"],
    })
    s = run(path, models).summary
    # Round 2's proposal V1 beats the start; round 3's reply is junk (a repair retry too): V1 stands in.
    assert s.rounds[1].prompt == V1 and s.best_round == 2
    assert s.rounds[2].origin == "fallback" and s.rounds[2].prompt == V1
    assert "reply unusable" in s.rounds[2].changes
    assert s.stop_reason == "round limit reached (3)"
    assert s.final_prompt == V1


def test_an_empty_prompt_from_the_engineer_is_called_empty_not_copied(isolated: Path) -> None:
    # The reply parses, but its prompt is blank: the round says so in those words and the start stands in.
    path = write_scenario(isolated, SCENARIO.replace("rounds: 3", "rounds: 2"))
    # sent back once with the reason, it replies with a blank prompt again
    models = ScriptedModels({"pe": [proposal("   \n  ", "nothing to change"), proposal(" ", "still nothing")],
                             "exe": ["a"] * 4,
                             "c1": [review(5, 5), review(5, 5)], "c2": [review(5, 5), review(5, 5)], "mod": ["x"]})
    s = run(path, models).summary
    assert s.rounds[1].origin == "fallback" and s.rounds[1].prompt == TASK
    assert "reply unusable: its prompt was empty; sent back with the reason, its second reply did the same" \
        in s.rounds[1].changes
    assert "copied" not in s.rounds[1].changes


def test_junk_in_round_two_is_never_the_final_prompt_and_the_start_stays(isolated: Path) -> None:
    # Round 1 can no longer be junk (it is the user's own prompt): junk in round 2 stands in with the best prompt
    # so far and, though it scores better there, never becomes the final prompt.
    path = write_scenario(isolated, SCENARIO.replace("rounds: 3", "rounds: 2"))
    models = ScriptedModels({"pe": ["I think the prompt is fine", "still no json"], "exe": ["a"] * 4,
                             "c1": [review(5, 5), review(9, 9)], "c2": [review(5, 5), review(9, 9)], "mod": ["x"]})
    out = run(path, models)
    s, folder = out.summary, out.run_dir.path
    assert s.rounds[0].origin == "start"
    assert s.rounds[1].origin == "fallback" and s.rounds[1].prompt == TASK  # the best so far was run, so the chat went on
    assert "reply unusable" in s.rounds[1].changes
    assert all(r.prompt == TASK for r in s.rounds) and s.final_prompt == TASK  # no junk text ever ran or won
    assert s.stop_reason == "round limit reached (2)"
    assert (folder / "final_prompt.txt").read_text().strip() == TASK
    assert json.loads((folder / "summary.json").read_text())["stop_reason"] == s.stop_reason


def test_a_usable_proposal_after_junk_becomes_the_final_prompt(isolated: Path) -> None:
    path = write_scenario(isolated, SCENARIO)
    models = ScriptedModels({
        "pe": ["junk", "more junk", proposal(V2)],
        "exe": ["a"] * 6,
        "c1": [review(4, 4), review(4, 4), review(6, 6)],
        "c2": [review(4, 4), review(4, 4), review(6, 6)],
        "mod": ["x", "y"],
    })
    out = run(path, models)
    s = out.summary
    assert s.rounds[1].origin == "fallback" and s.rounds[1].prompt == TASK  # round 2's junk: the start ran again
    assert s.best_round == 3 and s.final_prompt == V2 and s.stop_reason == "round limit reached (3)"
    assert (out.run_dir.path / "final_prompt.txt").read_text().strip() == V2


def test_junk_drafts_on_a_labeled_scenario_are_never_the_final_prompt(isolated: Path) -> None:
    from test_compare import sentiment_models, sentiment_scenario

    models = sentiment_models()
    models.clients["pe"].answer = lambda texts, args: "no JSON here"
    out = run(sentiment_scenario(isolated, rounds=2), models)
    s = out.summary
    start = "Classify the sentiment of a product review as positive or negative."  # the task text: no seed_prompt
    # Every draft was junk: round 1 is the user's own prompt alone (no junk ran as a candidate), and it stays.
    assert s.rounds[0].origin == "start" and s.rounds[0].prompt == start
    assert [c.operator for c in s.rounds[0].candidates] == ["start"] and s.rounds[0].candidates[0].chosen
    assert all("no JSON here" not in r.prompt for r in s.rounds)
    assert s.best_round == 1 and s.final_prompt == start and s.test is not None and s.test.round == 1
    assert s.stop_reason == "round limit reached (2)"
    assert (out.run_dir.path / "final_prompt.txt").read_text().strip() == start


def test_critics_who_all_give_one_score_show_no_agreement_figure(isolated: Path) -> None:
    import io

    from redraft.console import Console

    path = write_scenario(isolated, SCENARIO.replace("rounds: 3", "rounds: 1"))
    # Every critic scores every output 6: alpha is 0/0 there, which must not read as perfect agreement (1.00).
    models = ScriptedModels({"pe": [proposal(V1)], "exe": ["a", "b"], "c1": [review(6, 6)], "c2": [review(5, 7)], "mod": []})
    out = run(path, models)
    agreement = out.summary.rounds[0].panel.agreement
    assert agreement.value is None and agreement.note == "no variation"
    panel = [ln for ln in read_transcript(out.run_dir.path) if ln["source"] == "critic_panel"]
    assert "agreement α=n/a (no variation)" in panel[0]["content"]
    text = io.StringIO()
    Console(text).summary(out.summary, str(out.run_dir.path))
    assert "n/a (no variation)" in text.getvalue() and "1.00" not in text.getvalue()

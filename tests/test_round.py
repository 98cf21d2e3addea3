"""The round on scripted models: what each role was sent, what the transcript and run folder hold."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import SCENARIO, ScriptedModels, proposal, read_transcript, review, run, write_scenario


V1 = "You answer refund requests. Be polite."
V2 = "You answer refund requests. Refunds are allowed within 30 days of purchase only. Be polite."
V3 = "You answer refund requests. Refunds only within 30 days. Be polite and brief."


def three_round_script() -> ScriptedModels:
    return ScriptedModels({
        "pe": [proposal(V1), proposal(V2, "added the 30-day rule"), proposal(V3, "shortened")],
        "exe": ["Sure, refund approved.", "Sure, refund approved.",
                "Yes, within 30 days.", "Sorry, past 30 days.",
                "Yes.", "No."],
        "c1": [review(4, 5, ["approves a 60-day-old refund"], ["state the 30-day limit"]),
               review(8, 8), review(6, 6)],
        "c2": ["this is not JSON", review(4, 4, ["ignores the policy"]),
               review(8, 9), "junk", "{\"scores\": {\"policy\": 99}}"],
        "mod": ["Add the 30-day rule to the prompt.", "Keep it short."],
    })


def test_three_rounds_keep_the_best_not_the_last(scenario_file: Path, isolated: Path) -> None:
    models = three_round_script()
    out = run(scenario_file, models)
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
    assert s.usage.calls == 3 + 6 + 3 + 5 + 2
    assert all(models.remaining(tag) == 0 for tag in models.clients)

    # What the Prompt Engineer was sent: a draft request, then edits of the best prompt so far.
    pe = models.requests("pe")
    assert "Example inputs" in pe[0]["user"] and "Best prompt so far" not in pe[0]["user"]
    assert pe[0]["args"]["response_format"]["type"] == "json_schema"
    assert V1 in pe[1]["user"] and "score 4.00" in pe[1]["user"]
    assert "approves a 60-day-old refund" in pe[1]["user"]  # critique reaches the engineer
    assert "Add the 30-day rule to the prompt." in pe[1]["user"]  # and the moderator's focus
    assert V2 in pe[2]["user"].split("Earlier versions")[0]  # the best (v2) is the one edited in round 3

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
    assert s.rounds[0].prompt == "Answer refund requests." and s.rounds[0].origin == "seed"
    assert models.requests("pe") == []


def test_engineer_junk_keeps_the_best_prompt_and_goes_on(isolated: Path) -> None:
    path = write_scenario(isolated, SCENARIO.replace("rounds: 3", "rounds: 2"))
    models = ScriptedModels({
        "pe": [proposal(V1), "I think the prompt is fine", "still no json"],
        "exe": ["a"] * 4,
        "c1": [review(6, 6), review(6, 6)],
        "c2": [review(6, 6), review(6, 6)],
        "mod": ["x"],
    })
    s = run(path, models).summary
    assert s.rounds[1].origin == "fallback" and s.rounds[1].prompt == V1
    assert "reply unusable" in s.rounds[1].changes
    assert s.stop_reason == "round limit reached (2)"


def test_junk_in_round_one_without_a_seed_is_never_the_final_prompt(isolated: Path) -> None:
    path = write_scenario(isolated, SCENARIO.replace("rounds: 3", "rounds: 1"))
    models = ScriptedModels({"pe": ["I think the prompt is fine", "still no json"], "exe": ["a", "b"],
                             "c1": [review(9, 9)], "c2": [review(9, 9)], "mod": []})
    out = run(path, models)
    s, folder = out.summary, out.run_dir.path
    assert s.rounds[0].origin == "fallback"  # the task's text was run, so the chat could go on
    assert s.best_round is None and s.final_prompt is None
    assert s.stop_reason.startswith("no usable prompt was found") and "round limit reached (1)" in s.stop_reason
    assert not (folder / "final_prompt.txt").exists()
    assert json.loads((folder / "summary.json").read_text())["stop_reason"] == s.stop_reason
    assert "no usable prompt was found" in read_transcript(folder)[-1]["content"]


def test_a_usable_proposal_after_junk_becomes_the_final_prompt(isolated: Path) -> None:
    path = write_scenario(isolated, SCENARIO.replace("rounds: 3", "rounds: 2"))
    models = ScriptedModels({
        "pe": ["junk", "more junk", proposal(V2)],
        "exe": ["a"] * 4,
        "c1": [review(9, 9), review(5, 5)],  # the stand-in scores better; it still cannot win
        "c2": [review(9, 9), review(5, 5)],
        "mod": ["x"],
    })
    out = run(path, models)
    s = out.summary
    assert not s.rounds[0].selection.accepted and "never proposed" in s.rounds[0].selection.reason
    assert s.best_round == 2 and s.final_prompt == V2 and s.stop_reason == "round limit reached (2)"
    assert (out.run_dir.path / "final_prompt.txt").read_text().strip() == V2


def test_junk_drafts_on_a_labeled_scenario_are_never_the_final_prompt(isolated: Path) -> None:
    from test_compare import sentiment_models, sentiment_scenario

    models = sentiment_models()
    models.clients["pe"].answer = lambda texts, args: "no JSON here"
    out = run(sentiment_scenario(isolated, rounds=2), models)
    s = out.summary
    assert [r.origin for r in s.rounds] == ["fallback", "fallback"]
    assert s.best_round is None and s.final_prompt is None and s.test is None
    assert s.stop_reason.startswith("no usable prompt was found")
    assert not (out.run_dir.path / "final_prompt.txt").exists()


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

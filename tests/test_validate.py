"""What `redraft validate` checks before any model call: score units against the scenario's scale,
and every card's templates and variables against what its role provides."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import SCENARIO, ScriptedModels, proposal, review, run, write_scenario

from redraft import ConfigError, validate_scenario
from redraft.config import (AgentCard, BASE_VARIABLES, PACKAGE_AGENTS, PACKAGE_SCENARIOS, ROLE_TEMPLATES, load_card,
                            load_cards, load_scenario, template_variables)
from redraft.eval import REVIEW_LISTS, review_schema, review_values

LABELED = (PACKAGE_SCENARIOS / "ticket_routing.yaml").read_text(encoding="utf-8")
LABELED_SEARCH = SCENARIO.replace("inputs:\n", "metric: {type: label, labels: [approve, deny]}\nminibatch: 2\n"
                                  "split: {train: 6, dev: 3, test: 0}\nexamples:\n").replace(
    '  - "Refund for shoes bought 10 days ago?"\n  - "Refund for a lamp bought 60 days ago?"\n',
    "".join(f"  - {{input: 'Refund after {d} days?', target: {'approve' if d <= 30 else 'deny'}}}\n" for d in range(5, 50, 5)))


def labeled_scenario(folder: Path, text: str) -> Path:
    (folder / "data").mkdir(exist_ok=True)
    for data in (PACKAGE_SCENARIOS / "data").iterdir():
        (folder / "data" / data.name).write_bytes(data.read_bytes())
    return write_scenario(folder, text, "tickets.yaml")


def test_a_panel_target_on_a_labeled_scenario_fails_with_the_range(isolated: Path) -> None:
    assert "target_score: 0.95" in LABELED
    path = labeled_scenario(isolated, LABELED.replace("target_score: 0.95", "target_score: 9"))
    with pytest.raises(ConfigError, match=r"tickets.yaml:\d+: stop.target_score: 9 is outside the score scale; "
                                          r"expected a score from 0 to 1 \(a scenario with labeled examples"):
        validate_scenario(str(path))


def test_a_metric_target_on_a_rubric_scenario_fails_with_the_range(isolated: Path) -> None:
    path = write_scenario(isolated, SCENARIO.replace("  patience: 2", "  patience: 2\n  target_score: 0.9"))
    with pytest.raises(ConfigError, match=r"refunds.yaml:17: stop.target_score: .*expected a score from 1 to 10"):
        validate_scenario(str(path))


def test_min_effect_is_a_difference_on_the_scale(isolated: Path) -> None:
    path = labeled_scenario(isolated, LABELED + "selection:\n  min_effect: 1.5\n")
    with pytest.raises(ConfigError, match=r"selection.min_effect: 1.5 is more than .*expected a difference from 0 to 1"):
        validate_scenario(str(path))
    path = write_scenario(isolated, SCENARIO + "selection:\n  min_effect: 1.5\n")
    assert validate_scenario(str(path)).selection.min_effect == 1.5


def test_the_scale_follows_the_examples() -> None:
    assert load_scenario("ticket_routing").scale.text == "0-1"
    assert load_scenario("support_reply").scale.text == "1-10"


def write_card(folder: Path, name: str, text: str) -> Path:
    (folder / "agents").mkdir(exist_ok=True)
    path = folder / "agents" / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


TONE = """\
name: tone
role: critic
description: Judges whether replies sound like our brand.
focus: brand tone of voice
rubric:
  - Warm, plain words; no corporate jargon.
"""


def test_a_critic_is_a_name_a_focus_and_a_rubric(isolated: Path) -> None:
    card = load_card(write_card(isolated, "tone", TONE))
    clarity = load_cards()["clarity"]
    assert card.system_message == clarity.system_message and card.templates == clarity.templates
    assert (card.model, card.temperature, card.max_tokens) == ("default", 0.2, 400)
    assert all(len((PACKAGE_AGENTS / f"{c}.yaml").read_text().splitlines()) <= 10 for c in ("clarity", "fidelity", "format"))


def test_a_critic_card_overrides_one_template_and_keeps_the_rest(isolated: Path) -> None:
    card = load_card(write_card(isolated, "tone", TONE + "temperature: 0.0\ntemplates:\n  review: '$outputs $reply_shape'\n"))
    assert card.templates == {"review": "$outputs $reply_shape"} and card.temperature == 0.0
    assert card.system_message == load_cards()["clarity"].system_message


def test_an_unknown_variable_fails_validate_with_file_key_and_variables(isolated: Path) -> None:
    write_card(isolated, "tone", TONE + "templates:\n  review: 'Rate the $tone of $outputs'\n")
    path = write_scenario(isolated)
    with pytest.raises(ConfigError) as err:
        validate_scenario(str(path))
    assert str(err.value).startswith(f"{isolated / 'agents' / 'tone.yaml'}: templates.review: template variable $tone "
                                     "is not provided; available: $criteria, $examples, $focus, $n_outputs, $outputs, "
                                     "$reply_shape, $round, $rubric, $score_keys, $task")


def test_a_missing_template_fails_validate_with_file_key_and_variables(isolated: Path) -> None:
    base = yaml.safe_load((PACKAGE_AGENTS / "moderator.yaml").read_text())
    del base["templates"]["focus"]
    write_card(isolated, "moderator", yaml.safe_dump(base))
    with pytest.raises(ConfigError, match=r"agents/moderator.yaml: templates.focus: the template is missing; a moderator "
                                          r"card has the templates: focus, compare; it is given \$criteria, \$examples, \$issues"):
        validate_scenario(str(write_scenario(isolated)))


def test_an_unknown_template_and_a_system_variable_not_every_template_gets_fail(isolated: Path) -> None:
    base = yaml.safe_load((PACKAGE_AGENTS / "prompt_engineer.yaml").read_text())
    path = write_card(isolated, "prompt_engineer", yaml.safe_dump({**base, "templates": {**base["templates"], "reviseit": "x"}}))
    with pytest.raises(ConfigError, match=r"templates.reviseit: unknown template; a prompt_engineer card has the templates: "
                                          r"draft, revise"):
        load_card(path)
    renamed = {**base["templates"], "operator_rewrite_errors": "Rewrite $instruction around $error_pattern"}
    path.write_text(yaml.safe_dump({**base, "templates": renamed}))  # a card written before the edit was renamed
    with pytest.raises(ConfigError, match=r"templates.operator_rewrite_errors: unknown template \('operator_rewrite_errors' "
                                          r"is now 'operator_fix_errors'\); a prompt_engineer card has the templates"):
        load_card(path)
    path.write_text(yaml.safe_dump({**base, "system_message": "Improve $best_prompt"}))
    with pytest.raises(ConfigError, match=r"system_message: template variable \$best_prompt is not provided; available: "
                                          r"\$criteria, \$examples, \$round, \$task$"):
        load_card(path)


def test_every_call_site_passes_exactly_the_declared_variables(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rendered: set[tuple[str, str]] = set()
    real = AgentCard.render

    def spy(self: AgentCard, template: str, **values: object) -> str:
        rendered.add((self.role, template))
        return real(self, template, **values)

    monkeypatch.setattr(AgentCard, "render", spy)
    models = ScriptedModels({"pe": [proposal("Be polite.")], "exe": ["a", "b"] * 4,
                             "c1": [review(5, 5), review(6, 6)], "c2": [review(6, 6), review(7, 7)], "mod": ["fix"] * 3})
    run(write_scenario(isolated), models, rounds=2)  # render raises TypeError when a call site and the declaration differ
    # Round 1 is the user's own prompt (no engineer call): the engineer's one request is round 2's revision.
    (revise,) = models.requests("pe")
    assert "on a 1-10 scale" in revise["user"]
    assert review_values(["policy", "tone"], 2)["reply_shape"] in models.requests("c1")[0]["user"]
    # A labeled scenario's search renders the rest: the edit template and every named edit.
    models = ScriptedModels({"pe": [proposal(f"Label it, version {i}.") for i in range(20)], "exe": ["approve", "deny"] * 100,
                             "c1": [review(5, 5)] * 4, "c2": [review(6, 6)] * 4, "mod": []})
    run(write_scenario(isolated, LABELED_SEARCH + "search: {candidates: 5}\n", "labeled.yaml"), models, rounds=3)
    # A rubric scenario with pairwise selection renders the rest: the addition asked for when a revision hands the
    # prompt back, and the Moderator's comparisons.
    import test_pairwise as pw
    replies = iter([pw.START, "Say that refunds are allowed within 30 days."])
    fakes = pw.FakeModels({"pe": lambda texts, args: proposal(next(replies), "kept"), "exe": pw.executor,
                           "mod": pw.moderator, "crit": pw.contrary_critic})
    run(pw.scenario(isolated, rounds=2), fakes)
    assert rendered == {(role, t) for role, templates in ROLE_TEMPLATES.items() for t in templates}
    assert "The model's reply must be: only the answer label, exactly one of: approve, deny" in models.requests("pe")[0]["user"]


def test_a_call_site_passing_an_undeclared_variable_is_our_bug() -> None:
    card = load_cards()["moderator"]
    values = {name: "x" for name in template_variables("moderator", "focus")}
    assert card.render("focus", **values)
    with pytest.raises(TypeError, match=r"moderator template 'focus' is rendered with .*\$extra.*cards.ROLE_TEMPLATES"):
        card.render("focus", **values, extra="x")
    with pytest.raises(TypeError, match="system message"):
        card.render_system({k: v for k, v in values.items() if k != "issues"})


def test_the_reply_shape_and_the_schema_come_from_one_definition() -> None:
    schema = review_schema(["policy"], 3)
    shape = review_values(["policy"], 3)["reply_shape"]
    assert json.loads(re.sub(r"\[[^\]]*\]|1-10", "0", shape)).keys() == schema["properties"].keys() == set(schema["required"])
    for name, spec in REVIEW_LISTS.items():
        assert f'"{name}": [up to {spec.max_items} ' in shape and schema["properties"][name]["maxItems"] == spec.max_items
    assert "[3 scores 1-10" in shape and schema["properties"]["per_output"]["minItems"] == 3


def test_the_readme_example_cards_load_and_its_table_is_the_declaration(isolated: Path) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Writing a critic"):readme.index("## Compare single-shot")]
    card, override = re.findall(r"```yaml\n(.*?)```", section, re.S)
    assert load_card(write_card(isolated, "tone", card + override)).templates["review"].endswith("$reply_shape.\n")
    rows = {(role, t): set(re.findall(r"\$(\w+)", names))
            for role, t, names in re.findall(r"^\| (\w+) \| `(\w+)` \| (.*) \|$", section, re.M)}
    assert rows == {(role, t): set(ROLE_TEMPLATES[role][t]) for role in ROLE_TEMPLATES for t in ROLE_TEMPLATES[role]}
    assert set(re.findall(r"\$(\w+)", section[section.index("besides"):section.index("| role |")])) == set(BASE_VARIABLES)

"""What `redraft validate` checks before any model call: score units against the scenario's scale,
and every card's templates and variables against what its role provides."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SCENARIO, write_scenario

from redraft import ConfigError, validate_scenario
from redraft.scenario import PACKAGE_SCENARIOS, load_scenario

LABELED = (PACKAGE_SCENARIOS / "ticket_routing.yaml").read_text(encoding="utf-8")


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

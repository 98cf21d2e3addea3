"""What the user writes, validated: scenarios, examples and splits, role cards, metrics, budget caps, the majority class."""

from .baseline import Baseline, Split, majority_baseline, majority_baselines
from .budget import Budget, resumed_caps
from .cards import (BASE_VARIABLES, PACKAGE_AGENTS, ROLE_TEMPLATES, AgentCard, check_card, find_role, load_card,
                    load_cards, load_role_defaults, template_variables)
from .data import DatasetSpec, Example, ExampleResult, Splits, inline_examples, load_examples, read_rows
from .loader import allowed_keys, check_value, load_model, read_text, read_yaml, validation_to_config_error
from .metrics import Metric, MetricResult, MetricSpec, build_metric, extract_label, extract_number, normalize
from .scenario import PACKAGE_SCENARIOS, Checks, Scenario, list_scenarios, load_scenario

__all__ = ["Checks", "AgentCard", "BASE_VARIABLES", "Baseline", "Budget", "DatasetSpec", "Example", "ExampleResult", "Metric",
           "MetricResult", "MetricSpec", "PACKAGE_AGENTS", "PACKAGE_SCENARIOS", "ROLE_TEMPLATES", "Scenario", "Split",
           "Splits", "allowed_keys", "build_metric", "check_card", "check_value", "extract_label", "extract_number",
           "find_role", "inline_examples", "list_scenarios", "load_card", "load_cards", "load_examples", "load_model",
           "load_role_defaults", "load_scenario", "majority_baseline", "majority_baselines", "normalize", "read_rows", "read_text",
           "read_yaml", "resumed_caps", "template_variables", "validation_to_config_error"]

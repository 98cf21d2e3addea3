"""Scenario files: the task, its inputs, the rubric, the panel, the stop rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from .errors import ConfigError
from .budget import Budget
from .loader import line_of, load_model

PACKAGE_SCENARIOS = Path(__file__).parent / "scenarios"


class Criterion(BaseModel):
    """One rubric item every critic scores from 1 to 10."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
    description: str


class StopRules(BaseModel):
    """When the Moderator ends the chat before the round limit."""

    model_config = ConfigDict(extra="forbid")

    target_score: float | None = Field(default=None, ge=1, le=10)
    patience: int = Field(default=2, ge=1)
    min_delta: float = Field(default=0.0, ge=0)


class RoleSettings(BaseModel):
    """Per-role overrides of the card: model tag, temperature, max tokens."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1)


class Scenario(BaseModel):
    """A refinement job, loaded from `scenarios/<name>.yaml`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str
    task: str
    seed_prompt: str | None = None
    inputs: list[str] | None = None
    inputs_file: str | None = None
    criteria: list[Criterion] = Field(min_length=1)
    critics: list[str] = Field(default_factory=lambda: ["clarity", "fidelity", "format"], min_length=1)
    rounds: int = Field(default=3, ge=1, le=100)
    stop: StopRules = Field(default_factory=StopRules)
    roles: dict[str, RoleSettings] = Field(default_factory=dict)
    seed: int = 0
    max_tokens: int = Field(default=256, ge=1)
    concurrency: int = Field(default=4, ge=1, le=64)
    budget: Budget = Field(default_factory=Budget)

    _path: Path | None = PrivateAttr(default=None)
    _node: Any = PrivateAttr(default=None)
    _inputs: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _one_source_of_inputs(self) -> "Scenario":
        if (self.inputs is None) == (self.inputs_file is None):
            raise ValueError("give exactly one of 'inputs' (a list) or 'inputs_file' (a path)")
        if self.inputs is not None and not self.inputs:
            raise ValueError("'inputs' is empty; give at least one input")
        names = [c.name for c in self.criteria]
        if len(set(names)) != len(names):
            raise ValueError("criteria names must be unique")
        return self

    @property
    def path(self) -> Path | None:
        """The file this scenario was loaded from."""
        return self._path

    @property
    def task_inputs(self) -> list[str]:
        """The inputs the Task Executor runs each candidate on."""
        return self._inputs

    def error(self, key: str, message: str, loc: tuple[Any, ...] | None = None) -> ConfigError:
        """A ConfigError pointing at `key` in this scenario's file."""
        line = line_of(self._node, loc if loc is not None else tuple(key.split("."))) if self._node else None
        return ConfigError(str(self._path) if self._path else self.name, message, key=key, line=line)


def resolve_scenario_path(ref: str) -> Path:
    """A path to a scenario file, or the name of one in ./scenarios or the shipped examples."""
    path = Path(ref)
    if path.exists():
        return path
    if path.suffix not in (".yaml", ".yml") and "/" not in ref:
        for folder in (Path("scenarios"), PACKAGE_SCENARIOS):
            for suffix in (".yaml", ".yml"):
                candidate = folder / f"{ref}{suffix}"
                if candidate.exists():
                    return candidate
    known = ", ".join(s.stem for s in list_scenarios()) or "none"
    raise ConfigError(ref, f"scenario not found; give a path to a YAML file or one of: {known}")


def load_scenario(ref: str | Path) -> Scenario:
    """Load and validate a scenario, including its inputs file."""
    path = resolve_scenario_path(str(ref))
    scenario = load_model(path, Scenario)
    scenario._path = path
    scenario._node = yaml.compose(path.read_text(encoding="utf-8"))
    scenario._inputs = list(scenario.inputs) if scenario.inputs is not None else _read_inputs(scenario)
    return scenario


def _read_inputs(scenario: Scenario) -> list[str]:
    assert scenario.inputs_file is not None and scenario.path is not None
    file = Path(scenario.inputs_file)
    if not file.is_absolute():
        file = scenario.path.parent / file
    if not file.is_file():
        raise scenario.error("inputs_file", f"file not found: {file} (paths are relative to the scenario file)")
    text = file.read_text(encoding="utf-8")
    items: list[str] = []
    if file.suffix == ".jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(str(file), f"line is not valid JSON: {exc.msg}", line=n) from None
            if isinstance(obj, dict) and isinstance(obj.get("input"), str):
                items.append(obj["input"])
            elif isinstance(obj, str):
                items.append(obj)
            else:
                raise ConfigError(str(file), 'expected a JSON string or an object with an "input" string', line=n)
    elif file.suffix == ".txt":
        items = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        raise scenario.error("inputs_file", f"unsupported file type '{file.suffix}'; expected .txt or .jsonl")
    if not items:
        raise ConfigError(str(file), "no inputs found in the file")
    return items


def list_scenarios() -> list[Path]:
    """Scenario files in ./scenarios (if any) and the shipped examples, local ones first."""
    seen: dict[str, Path] = {}
    for folder in (Path("scenarios"), PACKAGE_SCENARIOS):
        if folder.is_dir():
            for path in sorted(folder.glob("*.y*ml")):
                seen.setdefault(path.stem, path)
    return list(seen.values())

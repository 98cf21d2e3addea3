"""Scenario files: the task, its inputs, the rubric, the panel, the stop rules."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from ..errors import ConfigError
from .budget import Budget
from .cards import ReplyTokens
from .data import (INPUT_FILES, DatasetSpec, Example, Splits, SplitSpec, data_file, inline_examples, link_outside,
                   load_examples, read_rows, split_examples)
from .loader import MAX_DATA_BYTES, YamlDoc, parse_model, parse_yaml, read_text
from .metrics import Metric, MetricSpec, build_metric

PACKAGE_SCENARIOS = Path(__file__).parent.parent / "scenarios"
NAME_LIMIT = 80  # characters of a scenario's name
# The sampling seed sent to the model: room left below 2^31 for the offsets added per example, round and retry.
MAX_SEED = 1_000_000_000



class Search(BaseModel):
    """How many candidates a round tries (labeled scenarios): `search:` in a scenario."""

    model_config = ConfigDict(extra="forbid")

    drafts: int = Field(default=7, ge=1, le=16)  # round 1's candidates: the user's prompt and drafts; the best on dev starts the chat
    # round 1: with more drafts than this, each runs on a train minibatch first and only the best this many go
    # on to full dev (as many drafts as best-of-N draws, for about the dev runs of two)
    draft_dev: int = Field(default=2, ge=1, le=16)
    candidates: int = Field(default=3, ge=1, le=8)  # later rounds: edits tried on a train minibatch
    promote: int = Field(default=1, ge=1, le=8)  # edits that beat their parent there and go on to full dev
    # worked examples per prompt (labeled default: by the labels; rubric: none unless set, then the optimizer
    # model's replies to train inputs)
    demos: int | None = Field(default=None, ge=0, le=16)
    # later rounds' edits: every kind, or new worked examples alone (compare's demos_only arm: the loop without
    # the engineer's edits and the critics, to show what they add)
    edits: Literal["all", "demos"] = "all"


class Checks(BaseModel):
    """The task's hard constraints on every output, checked by code (`checks:` in a scenario): a word limit or
    a required ending is a fact about an output, not a judge's opinion. On rubric scenarios a round whose outputs
    fail more checks than the best prompt's is not kept (with pairwise selection), the engineer is shown what
    failed, a revision that drops a fact of the task gets it back, and a worked example the optimizer model
    writes is shown only when it passes."""

    model_config = ConfigDict(extra="forbid")

    min_words: int | None = Field(default=None, ge=1)
    max_words: int | None = Field(default=None, ge=1)
    ends_with: str | None = Field(default=None, min_length=1)  # ignoring white space at the end
    excludes: list[str] = Field(default_factory=list)  # text no output may contain (case ignored)

    @model_validator(mode="after")
    def _a_range(self) -> "Checks":
        if self.min_words is not None and self.max_words is not None and self.min_words > self.max_words:
            raise ValueError(f"min_words ({self.min_words}) is above max_words ({self.max_words}); expected min_words "
                             "at most max_words")
        return self


class ScoreScale(BaseModel):
    """The range scores take: a metric's 0-1 on labeled examples, the critic panel's 1-10 otherwise.

    `stop.target_score` is a score on this scale and `selection.min_effect` a difference on it.
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["metric", "panel"]
    low: float
    high: float

    @property
    def text(self) -> str:
        """The range, e.g. "0-1"."""
        return f"{self.low:g}-{self.high:g}"

    @property
    def why(self) -> str:
        """Where the scale comes from, for messages."""
        if self.kind == "metric":
            return "a scenario with labeled examples is scored by its metric, from 0 to 1"
        return "a scenario without targets is scored by the critic panel, from 1 to 10"


METRIC_SCALE = ScoreScale(kind="metric", low=0, high=1)
PANEL_SCALE = ScoreScale(kind="panel", low=1, high=10)


class Criterion(BaseModel):
    """One rubric item every critic scores from 1 to 10."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
    description: str


class StopRules(BaseModel):
    """When the Moderator ends the chat before the round limit."""

    model_config = ConfigDict(extra="forbid")

    target_score: float | None = Field(default=None, ge=0, le=10)  # on the scenario's ScoreScale, checked at load
    patience: int = Field(default=2, ge=1)
    min_delta: float = Field(default=0.0, ge=0)


class Selection(BaseModel):
    """When a new candidate replaces the best prompt so far (decided on dev, never on test)."""

    model_config = ConfigDict(extra="forbid")

    # bootstrap: the paired interval's low bound must clear min_effect; mean: the mean difference must;
    # pairwise (rubric only): the Moderator compares the round's outputs with the best prompt's on the same
    # inputs, in both orders, and the round wins when preferred in both orders on more inputs than the best
    # is (a small panel's 1-10 scores swing from 1 to 10 on one prompt; which of two outputs is better a model
    # answers more steadily).
    # auto: mean where a metric scores (many candidates, each gated on train first: an interval on a few
    # dozen dev examples throws real gains away), bootstrap where the panel scores.
    rule: Literal["auto", "bootstrap", "mean", "pairwise"] = "auto"
    level: float = Field(default=0.95, gt=0.5, lt=1)
    min_effect: float = Field(default=0.0, ge=0)  # a difference on the scenario's ScoreScale, checked at load
    noise_margin: bool = True  # rubric-only: also clear the judges' own noise (re-score spread)
    n_boot: int = Field(default=1000, ge=100, le=100_000)


class RoleSettings(BaseModel):
    """Per-role overrides of the card: model tag, temperature, max tokens."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: ReplyTokens | None = None


class Scenario(BaseModel):
    """A refinement job, loaded from `scenarios/<name>.yaml`."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str
    task: str
    seed_prompt: str | None = None
    inputs: list[str] | None = None
    inputs_file: str | None = None
    examples: list[dict[str, Any]] | None = None  # inline labeled examples: {input, target, id?}
    dataset: DatasetSpec | None = None  # labeled examples from a JSONL/CSV file, with its own split
    split: SplitSpec | None = None  # for inputs / inputs_file / examples: seeded train/dev/test sizes
    metric: MetricSpec | None = None  # how an output is scored against its target
    minibatch: int = Field(default=8, ge=1)  # train examples the Executor runs each round
    selection: Selection = Field(default_factory=Selection)
    search: Search = Field(default_factory=Search)  # labeled: candidates per round, screening, worked examples
    noise_repeats: int = Field(default=2, ge=0, le=10)  # extra re-scorings by the first critic, to measure judge noise
    criteria: list[Criterion] = Field(min_length=1)
    checks: Checks | None = None  # hard constraints on every output, checked by code
    critics: list[str] = Field(default_factory=lambda: ["clarity", "fidelity", "format"], min_length=1)
    rounds: int = Field(default=3, ge=1, le=100)
    stop: StopRules = Field(default_factory=StopRules)
    roles: dict[str, RoleSettings] = Field(default_factory=dict)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)  # offsets per example, round and retry are added to it
    max_tokens: ReplyTokens = 256
    concurrency: int = Field(default=4, ge=1, le=64)
    budget: Budget = Field(default_factory=Budget)

    _path: Path | None = PrivateAttr(default=None)
    _source: YamlDoc | None = PrivateAttr(default=None)
    _splits: Splits | None = PrivateAttr(default=None)
    _labeled: bool = PrivateAttr(default=False)

    @field_validator("name")
    @classmethod
    def _names_a_folder(cls, name: str) -> str:
        # The name becomes part of the run folder's name, which file systems limit to 255 bytes.
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            raise ValueError(f"{name!r} cannot name a run folder; expected letters, digits, '_', '.' and '-', "
                             "starting with a letter or a digit")
        if len(name) > NAME_LIMIT:
            raise ValueError(f"the name is {len(name)} characters long; expected at most {NAME_LIMIT} "
                             "(it becomes part of the run folder's name)")
        return name

    @model_validator(mode="after")
    def _one_source_of_inputs(self) -> "Scenario":
        sources = [k for k in ("inputs", "inputs_file", "examples", "dataset") if getattr(self, k) is not None]
        if len(sources) != 1:
            raise ValueError("give exactly one of 'inputs' (a list), 'inputs_file' (a path), 'examples' "
                             f"(labeled, inline) or 'dataset' (labeled, from a file); got {', '.join(sources) or 'none'}")
        if self.inputs is not None and not self.inputs:
            raise ValueError("'inputs' is empty; give at least one input")
        if self.dataset is not None and self.split is not None:
            raise ValueError("a dataset has its own 'split'; remove the top-level 'split'")
        if (self.examples is not None or self.dataset is not None) and self.metric is None:
            raise ValueError("labeled examples need a 'metric' to score outputs against targets, e.g. "
                             "metric: {type: label, labels: [a, b]}; types: exact, label, contains, regex, numeric, python")
        names = [c.name for c in self.criteria]
        if len(set(names)) != len(names):
            raise ValueError("criteria names must be unique")
        return self

    @property
    def start_prompt(self) -> str:
        """The user's own prompt, where every run and comparison starts: the seed prompt, else the task's text."""
        return (self.seed_prompt or self.task).strip()

    @property
    def start_changes(self) -> str:
        """What the start is, as a round's or a candidate's "changes" line says it."""
        what = "your seed_prompt" if self.seed_prompt else "your task text, as the prompt"
        return f"the starting prompt ({what}), scored as given"

    @property
    def path(self) -> Path | None:
        """The file this scenario was loaded from."""
        return self._path

    @property
    def splits(self) -> Splits:
        """train (refinement), dev (selection) and test (the final report) examples."""
        assert self._splits is not None, "load the scenario with load_scenario()"
        return self._splits

    @property
    def labeled(self) -> bool:
        """Whether examples carry targets (scored by the metric) or only inputs (scored by the panel)."""
        return self._labeled

    @property
    def scale(self) -> ScoreScale:
        """The scale scores, `stop.target_score` and `selection.min_effect` are in."""
        return METRIC_SCALE if self._labeled else PANEL_SCALE

    @property
    def task_inputs(self) -> list[str]:
        """Every distinct input the refinement may run on (train and dev), in order."""
        seen: dict[str, str] = {}
        for e in [*self.splits.train, *self.splits.dev]:
            seen.setdefault(e.id, e.input)
        return list(seen.values())

    def make_metric(self) -> Metric | None:
        """The metric that scores an output against its target (None for a rubric-only scenario)."""
        if self.metric is None:
            return None
        return build_metric(self.metric, base_dir=self._path.parent if self._path else None,
                            file=str(self._path) if self._path else None)

    def _attach(self, path: Path | None, splits: Splits, labeled: bool) -> None:
        """Set what loading found beside the YAML: its path and its examples."""
        self._path = path
        self._splits = splits
        self._labeled = labeled

    def reseeded(self, seed: int, **update: Any) -> "Scenario":
        """A copy with another seed (and any other field changed); the loaded examples and file go along."""
        copy = self.model_copy(update={"seed": seed, **update})
        copy._attach(self._path, self.splits, self._labeled)
        return copy

    @classmethod
    def restored(cls, data: dict[str, Any], path: Path | None, splits: Splits, labeled: bool) -> "Scenario":
        """A scenario as a run folder recorded it (config.json), with the examples it had then."""
        scenario = cls.model_validate(data)
        scenario._attach(path, splits, labeled)
        return scenario

    def link_warnings(self) -> list[str]:
        """One warning per file a key names that is a link leading out of the scenario's folder (see link_outside):
        loading such a file is allowed, but validation must say it, not report "25 inputs" and nothing else."""
        if self._path is None:
            return []
        named = {"inputs_file": self.inputs_file}
        if self.dataset is not None:
            named |= {f"dataset.{k}": getattr(self.dataset, k) for k in ("file", "train_file", "dev_file", "test_file")}
        module = (self.metric.function or "").rpartition(":")[0] if self.metric is not None else ""
        if module.endswith(".py") or "/" in module or "\\" in module:  # a file, as metrics._load_function reads it
            named["metric.function"] = module
        found = (link_outside(name, key, self._path.parent) for key, name in named.items() if name)
        return [warning for warning in found if warning is not None]

    def error(self, key: str, message: str, loc: tuple[Any, ...] | None = None) -> ConfigError:
        """A ConfigError pointing at `key` in this scenario's file."""
        if self._source is not None:
            return self._source.error(key, message, loc)
        return ConfigError(str(self._path) if self._path else self.name, message, key=key)


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
    doc = parse_yaml(path, "a YAML scenario")
    scenario = parse_model(doc, Scenario)
    scenario._source = doc
    scenario._path = path
    if scenario.dataset is not None:
        scenario._attach(path, load_examples(scenario.dataset, path.parent, scenario_file=doc), labeled=True)
    elif scenario.examples is not None:
        scenario._attach(path, _split(scenario, inline_examples(scenario.examples, scenario_file=doc)), labeled=True)
    else:
        texts = list(scenario.inputs) if scenario.inputs is not None else _read_inputs(scenario)
        examples = [Example(id=f"input-{i}", input=t, target="") for i, t in enumerate(texts, 1)]
        scenario._attach(path, _split(scenario, examples), labeled=False)
    _check_splits(scenario)
    _check_units(scenario)
    if scenario.metric is not None:
        build_metric(scenario.metric, base_dir=path.parent, file=str(path))  # import errors surface now
    return scenario


def _split(scenario: Scenario, examples: list[Example]) -> Splits:
    """Without `split`, every example serves for both refinement and selection, and none is held out."""
    if scenario.split is None:
        return Splits(train=examples, dev=examples, test=[])
    return split_examples(examples, scenario.split, "the scenario", lambda message: scenario.error("split", message))


def _check_splits(scenario: Scenario) -> None:
    """The loop learns from train examples and chooses the best prompt on dev ones: a split must leave it both."""
    key = "dataset.split" if scenario.dataset is not None else "split"
    for part, what in (("train", "learn from"), ("dev", "choose the best prompt on")):
        if not getattr(scenario.splits, part):
            raise scenario.error(f"{key}.{part}", f"0 {part} examples leave the loop nothing to {what}; expected at least 1")


def _check_units(scenario: Scenario) -> None:
    """The target is a score and the minimum effect a difference, both on the scenario's scale."""
    scale = scenario.scale
    target = scenario.stop.target_score
    if target is not None and not scale.low <= target <= scale.high:
        raise scenario.error("stop.target_score", f"{target:g} is outside the score scale; expected a score from "
                             f"{scale.low:g} to {scale.high:g} ({scale.why})")
    span = scale.high - scale.low
    if scenario.selection.min_effect > span:
        raise scenario.error("selection.min_effect", f"{scenario.selection.min_effect:g} is more than scores can differ; "
                             f"expected a difference from 0 to {span:g} ({scale.why})")
    if scenario.checks is not None and scenario.labeled:
        raise scenario.error("checks", "checks gate rubric rounds and the optimizer model's worked examples; "
                             "this scenario has targets and its metric scores every output: expected no checks")
    if scenario.selection.rule == "pairwise" and scenario.labeled:
        raise scenario.error("selection.rule", "pairwise compares outputs where the critic panel scores them; this "
                             "scenario has targets and a metric scores it: expected auto, mean or bootstrap")


def _read_inputs(scenario: Scenario) -> list[str]:
    assert scenario.inputs_file is not None and scenario.path is not None
    file = data_file(scenario.inputs_file, "inputs_file", scenario.path.parent, scenario._source, INPUT_FILES)
    if file.suffix.lower() == ".txt":
        text = read_text(file, holding=f".txt inputs ({INPUT_FILES['.txt']})", limit=MAX_DATA_BYTES)
        items = [line.strip() for line in text.splitlines() if line.strip()]
        if not items:
            raise ConfigError(str(file), f"no inputs found in the file; expected {INPUT_FILES['.txt']}")
        return items
    items = []
    for line, row in read_rows(file, string_field="input"):
        value = row.get("input")
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(str(file), f'expected an "input" string; the row has: {", ".join(row) or "nothing"}', line=line)
        items.append(value)
    return items


def list_scenarios() -> list[Path]:
    """Scenario files in ./scenarios (if any) and the shipped examples, local ones first."""
    seen: dict[str, Path] = {}
    for folder in (Path("scenarios"), PACKAGE_SCENARIOS):
        if folder.is_dir():
            for path in sorted(folder.glob("*.y*ml")):
                seen.setdefault(path.stem, path)
    return list(seen.values())

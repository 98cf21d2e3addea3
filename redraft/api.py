"""The library functions behind the CLI: validate a scenario, run one."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Callable
from pathlib import Path

from .cards import AgentCard, PACKAGE_AGENTS, load_cards
from .budget import Budget
from .llm import Caller
from .endpoints import ConfiguredModels, EmbeddedModels, ModelProvider, find_config, open_models
from .projection import Projection, projected_spend
from .results import Summary
from .runs import Checkpoint, RunConfig, RunDir, run_finished
from .scenario import Scenario, load_scenario
from .errors import EmbeddedModelError, EndpointError, RedraftError, RunInterrupted
from .runtime import ctrl_c_cancels, make_caller, serving
from .team import ReviewSettings, OnMessage, OnProgress, Session, build_session, run_session, seat_roles


def agent_dirs(scenario: Scenario, extra: list[str] | None = None) -> list[Path]:
    """Card folders layered over the shipped cards: `agents/` beside the scenario, then --agents."""
    dirs: list[Path] = []
    if scenario.path is not None:
        beside = scenario.path.parent / "agents"
        if beside.is_dir() and beside.resolve() != PACKAGE_AGENTS.resolve():
            dirs.append(beside)
    dirs += [Path(d) for d in extra or []]
    return dirs


def prepare(scenario_ref: str, *, agents: list[str] | None = None) -> tuple[Scenario, dict[str, AgentCard]]:
    """Load the scenario and the cards it seats."""
    scenario = load_scenario(scenario_ref)
    return scenario, load_cards(agent_dirs(scenario, agents))


def validate_scenario(scenario_ref: str, *, agents: list[str] | None = None, config: str | None = None) -> Scenario:
    """Check a scenario without running it: YAML, keys, inputs, critics, roles and model tags."""
    scenario, cards = prepare(scenario_ref, agents=agents)
    found = find_config(config)
    if found is not None:
        seat_roles(scenario, cards, ConfiguredModels(*found))
    else:
        seat_roles(scenario, cards, _AnyTag())
    return scenario


class _AnyTag:
    """Validation without a model config: the embedded model serves every tag."""

    def has_tag(self, tag: str) -> bool:
        return True

    def known_tags(self) -> list[str]:
        return ["default"]


@dataclass
class RunOptions:
    """How to run: models, where files go, cache and budget. Everything has a sensible default."""

    rounds: int | None = None
    config: str | None = None
    gguf: str | None = None
    runs_dir: str | Path = "runs"
    agents: list[str] | None = None
    cache_dir: str | Path | None = None
    no_cache: bool = False
    budget: Budget | None = None
    review: bool = False  # a human reviewer joins after the critics each round
    review_timeout: float | None = None  # go on when the reviewer does not answer in time
    review_weight: float = 1.0  # the reviewer's /score counts as this many critics


@dataclass
class Hooks:
    """Callbacks for a live view of a run."""

    on_message: OnMessage | None = None  # each transcript entry, as it is written
    on_status: Callable[[str], None] | None = None  # setup and teardown news
    on_progress: OnProgress | None = None  # who is working now


@dataclass
class RunOutcome:
    """What `redraft run` produced."""

    summary: Summary
    run_dir: RunDir


def run_scenario(scenario_ref: str, options: RunOptions | None = None, hooks: Hooks | None = None, *,
                 models: ModelProvider | None = None) -> RunOutcome:
    """Run the refinement chat for a scenario; the run folder is written as it goes."""
    opts, hooks = options or RunOptions(), hooks or Hooks()
    scenario, cards = prepare(scenario_ref, agents=opts.agents)
    own = models is None
    models = models or open_models(opts.config, opts.gguf, parallel=scenario.concurrency)
    # Everything is validated before the run folder exists, so a bad input leaves nothing behind.
    session = build_session(scenario, cards, models, rounds=opts.rounds, caller=make_caller(models, scenario.budget.merged(opts.budget), cache_dir=opts.cache_dir,
                                                       no_cache=opts.no_cache),
                            review=_review(opts))
    run = RunDir.create(Path(opts.runs_dir), scenario.name)
    return _drive(session, models, run, hooks, own)


def dry_run(scenario_ref: str, options: RunOptions | None = None) -> Projection:
    """Project a run's calls and tokens without calling any model (and without starting one)."""
    opts = options or RunOptions()
    scenario, cards = prepare(scenario_ref, agents=opts.agents)
    found = find_config(opts.config)
    models: ModelProvider = ConfiguredModels(*found) if found else EmbeddedModels(Path(opts.gguf) if opts.gguf else None)
    session = build_session(scenario, cards, models, rounds=opts.rounds, caller=Caller(models))
    return projected_spend(session.table, models)


def resume_run(run_dir: str | Path, options: RunOptions | None = None, hooks: Hooks | None = None, *,
               models: ModelProvider | None = None) -> RunOutcome:
    """Continue an interrupted run from its last completed turn, appending to its transcript."""
    opts, hooks = options or RunOptions(), hooks or Hooks()
    run = RunDir(Path(run_dir))
    if not run.config_path.is_file() or not run.state_path.is_file():
        raise RedraftError(f"{run_dir}: not a redraft run folder (config.json and state.json are needed to resume)")
    config = RunConfig.read(run)
    checkpoint = Checkpoint.read(run)
    if run_finished(checkpoint.run, config.splits):
        raise RedraftError(f"{run_dir}: this run already finished ({checkpoint.run.stop_reason}); nothing to resume")
    scenario = config.restored_scenario()
    own = models is None
    models = models or open_models(opts.config, opts.gguf, parallel=scenario.concurrency)
    caller = make_caller(models, scenario.budget.merged(opts.budget), cache_dir=opts.cache_dir, no_cache=opts.no_cache,
                         ledger=checkpoint.ledger)
    session = build_session(scenario, config.restored_cards(), models, rounds=opts.rounds or config.rounds, caller=caller,
                            review=_review(opts))
    session.resume_from(checkpoint)
    return _drive(session, models, run, hooks, own)


def _review(opts: RunOptions) -> ReviewSettings | None:
    return ReviewSettings(timeout=opts.review_timeout, weight=opts.review_weight) if opts.review else None



def _drive(session: Session, models: ModelProvider, run: RunDir, hooks: Hooks, own: bool) -> RunOutcome:
    status = hooks.on_status or (lambda _msg: None)
    status(f"run folder: {run.path}")
    try:
        with serving(models, own=own, log_file=run.server_log, status=status):
            summary = asyncio.run(_run(session, models, run, hooks, own))
    except (KeyboardInterrupt, asyncio.CancelledError):
        raise RunInterrupted(f"interrupted. The run is saved in {run.path}; resume it with:\n    redraft resume {run.path}") from None
    except (EndpointError, EmbeddedModelError) as exc:
        raise type(exc)(f"{exc}\nThe run is saved in {run.path}; resume it with:\n    redraft resume {run.path}") from None
    return RunOutcome(summary=summary, run_dir=run)




async def _run(session: Session, models: ModelProvider, run: RunDir, hooks: Hooks, close: bool) -> Summary:
    try:
        with ctrl_c_cancels(session.table.cancel.cancel):
            return await run_session(session, models, run, hooks.on_message, hooks.on_progress)
    finally:
        if close:
            await models.close()

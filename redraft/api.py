"""The library functions behind the CLI: validate a scenario, run one."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Callable
from pathlib import Path

from .cards import AgentCard, PACKAGE_AGENTS, load_cards
from .llm import Caller
from .models import ModelProvider, open_models
from .runs import RunDir, Summary
from .scenario import Scenario, load_scenario
from .team import OnMessage, Session, build_session, run_session, seat_roles


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
    from .models import ConfiguredModels, find_config

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
class RunOutcome:
    """What `redraft run` produced."""

    summary: Summary
    run_dir: RunDir


def run_scenario(
    scenario_ref: str,
    *,
    rounds: int | None = None,
    config: str | None = None,
    gguf: str | None = None,
    runs_dir: str | Path = "runs",
    agents: list[str] | None = None,
    on_message: OnMessage | None = None,
    on_status: Callable[[str], None] | None = None,
    models: ModelProvider | None = None,
) -> RunOutcome:
    """Run the refinement chat for a scenario; the run folder is written as it goes."""
    scenario, cards = prepare(scenario_ref, agents=agents)
    own_models = models is None
    if models is None:
        models = open_models(config, gguf, parallel=scenario.concurrency)
    # Everything is validated before the run folder exists, so a bad input leaves nothing behind.
    session = build_session(scenario, cards, models, rounds=rounds, caller=Caller(models))
    run = RunDir.create(Path(runs_dir), scenario.name)
    server = getattr(models, "server", None)
    if server is not None and server.log_file is None:
        server.log_file = run.server_log
    status = on_status or (lambda _msg: None)
    status(f"run folder: {run.path}")
    try:
        if server is not None:
            status(f"starting the embedded model {server.model_name} (llama.cpp on 127.0.0.1)...")
            server.start()
            status(f"embedded model ready at {server.base_url}")
        summary = asyncio.run(_run(session, models, run, on_message, own_models))
    except BaseException:
        if own_models:
            _close_quietly(models)
        raise
    return RunOutcome(summary=summary, run_dir=run)


async def _run(session: Session, models: ModelProvider, run: RunDir, on_message: OnMessage | None, close: bool) -> Summary:
    try:
        return await run_session(session, models, run, on_message)
    finally:
        if close:
            await models.close()


def _close_quietly(models: ModelProvider) -> None:
    server = getattr(models, "server", None)
    if server is not None:
        server.stop()

"""The library functions behind the CLI: validate a scenario, run one, resume one, report on one."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .chat import OnMessage, ReviewSettings, Runner, Session, build_session, seat_roles
from .config import (PACKAGE_AGENTS, AgentCard, Budget, Scenario, check_card, load_cards, load_role_defaults,
                     load_scenario, majority_baselines, resumed_caps)
from .errors import ConfigError, EmbeddedModelError, EndpointError, RunInterrupted, Terminated
from .llm import (Caller, ConfiguredModels, EmbeddedModels, ModelProvider, OnProgress, cache_folder, check_folder,
                  find_config, interrupts_cancel, make_caller, open_models, serving)
from .llm.cache import check_writable
from .records import Summary
from .report import Projection, projected_spend, write_run_report
from .search import Seat
from .store import Reached, RunConfig, RunDir, build_summary, read_run, reopen, scenario_changes, write_summary


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
        models = ConfiguredModels(*found)
        seats = seat_roles(scenario, cards, models)
        check_cost_tracked(scenario, [s for v in seats.values() for s in (v if isinstance(v, list) else [v])], models)
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
    runs_dir = check_folder(opts.runs_dir, "--runs-dir")
    own = models is None
    models = models or open_models(opts.config, opts.gguf, parallel=scenario.concurrency)
    # Everything is validated before the run folder exists, so a bad input leaves nothing behind.
    session = build_session(scenario, cards, models, rounds=opts.rounds, caller=make_caller(models, scenario.budget.merged(opts.budget), cache_dir=opts.cache_dir,
                                                       no_cache=opts.no_cache),
                            review=_review(opts))
    check_cost_tracked(scenario, session.table.seats, models, opts.budget)
    check_cache(opts.cache_dir, opts.no_cache)  # last: it makes the cache folder, so only once all else is good
    try:
        run = RunDir.create(runs_dir, scenario.name)
    except OSError as exc:
        raise ConfigError("--runs-dir", f"cannot make a run folder in {runs_dir}: {exc.strerror}") from None
    with run.owned():
        return _drive(session, models, run, hooks, own)


def check_cache(cache_dir: str | Path | None, no_cache: bool) -> None:
    """The reply cache is checked writable before a run (or comparison) makes its folder, so a read-only or full
    cache is refused up front instead of failing at the first cached reply, a run folder already made."""
    folder = cache_folder(cache_dir, no_cache)
    if folder is not None:
        if cache_dir:
            check_writable(folder, f"--cache-dir {folder}")
        else:
            check_writable(folder, f"the reply cache {folder}", "; choose another with --cache-dir, or run with --no-cache")


def dry_run(scenario_ref: str, options: RunOptions | None = None) -> Projection:
    """Project a run's calls and tokens without calling any model (and without starting one)."""
    opts = options or RunOptions()
    scenario, cards = prepare(scenario_ref, agents=opts.agents)
    check_folder(opts.runs_dir, "--runs-dir")
    cache_folder(opts.cache_dir, opts.no_cache)
    found = find_config(opts.config)
    models: ModelProvider = ConfiguredModels(*found) if found else EmbeddedModels(Path(opts.gguf) if opts.gguf else None)
    session = build_session(scenario, cards, models, rounds=opts.rounds, caller=Caller(models), review=_review(opts))
    check_cost_tracked(scenario, session.table.seats, models, opts.budget)
    return projected_spend(session.table, models)


def resume_run(run_dir: str | Path, options: RunOptions | None = None, hooks: Hooks | None = None, *,
               models: ModelProvider | None = None) -> RunOutcome:
    """Continue an interrupted run from its last completed turn, appending to its transcript."""
    opts, hooks = options or RunOptions(), hooks or Hooks()
    run = RunDir(Path(run_dir))
    run.require("resume")
    with run.owned():
        return _resume(run, opts, hooks, models)


def _resume(run: RunDir, opts: RunOptions, hooks: Hooks, models: ModelProvider | None) -> RunOutcome:
    saved = reopen(run)
    config, scenario, checkpoint = saved.config, saved.scenario, saved.checkpoint
    status = hooks.on_status or (lambda _msg: None)
    changed = scenario_changes(saved)
    if changed is not None:
        status(changed)
    own = models is None
    models = models or open_models(opts.config, opts.gguf, parallel=scenario.concurrency)
    # The caps the run was started with (its command line's included) hold until a new one is given.
    caps, note = resumed_caps(scenario.budget, config.budget or scenario.budget, opts.budget)
    caller = make_caller(models, caps, cache_dir=opts.cache_dir, no_cache=opts.no_cache,
                         ledger=run.spent(checkpoint.ledger))
    session = build_session(scenario, _checked_cards(config, run), models,
                            rounds=config.rounds if opts.rounds is None else opts.rounds, caller=caller,
                            review=_review(opts))
    check_cost_tracked(scenario, session.table.seats, models, opts.budget)
    check_cache(opts.cache_dir, opts.no_cache)
    session.resume_from(checkpoint)
    if note is not None:
        status(note)
    if (caps, session.table.rounds) != (config.budget, config.rounds):  # a later resume keeps what was given now
        config.budget, config.rounds = caps, session.table.rounds
        config.write(run)
    return _drive(session, models, run, hooks, own)


def _checked_cards(config: RunConfig, run: RunDir) -> dict[str, AgentCard]:
    """The run's cards as config.json recorded them, checked against their roles as a loaded card is. A template
    this redraft renders that the run's card lacks (the run began under an earlier version) comes from the role's
    defaults, as it would for a card loaded now; the card's own templates stay as they were."""
    cards = config.restored_cards()
    defaults = load_role_defaults()
    for name, card in cards.items():
        if card.role in defaults:
            card.templates = defaults[card.role].templates | card.templates
        try:
            check_card(card)
        except ConfigError as exc:
            raise ConfigError(str(run.config_path), exc.detail, key=f"cards.{name}.{exc.key}") from None
    return cards


def check_cost_tracked(scenario: Scenario, seats: list[Seat], models: ModelProvider, flags: Budget | None = None) -> None:
    """A dollar cap needs a price for every model the run calls; without one the cap could never be reached."""
    budget = scenario.budget.merged(flags)
    if budget.max_usd is None or isinstance(models, EmbeddedModels):  # the embedded model costs nothing
        return
    tag = next((s.tag for s in seats if models.endpoint(s.tag).price is None), None)
    if tag is None:
        return
    model = models.endpoint(tag).description.model
    message = (f"cost cannot be tracked: model '{model}' (tag '{tag}') has no price in {getattr(models, 'source', 'the model config')}; "
               "add \"price\": [USD per 1k prompt tokens, USD per 1k completion tokens] to its entry, or cap with "
               "--max-calls or --max-tokens instead")
    if flags is not None and flags.max_usd is not None:
        raise ConfigError("--max-usd", message)
    raise scenario.error("budget.max_usd", message)


def report_run(run_dir: str | Path, *, note: Callable[[str], None] | None = None) -> Path:
    """Write report.html for a finished or interrupted run from its folder alone (no model is called); its path.
    A damaged summary.json is rebuilt from state.json and written again, as the run would have written it
    (report is the command that writes a run's files from its folder); note is told so."""
    record = read_run(run_dir, purpose="report on it")
    if record.rebuilt is not None:
        write_summary(record.run, record.summary)
        if note:
            note(str(record.damage_note(written=True)))
    return write_run_report(record.run, record.summary, record.checkpoint.run, record.scenario)


def _review(opts: RunOptions) -> ReviewSettings | None:
    return ReviewSettings(timeout=opts.review_timeout, weight=opts.review_weight) if opts.review else None



def _drive(session: Session, models: ModelProvider, run: RunDir, hooks: Hooks, own: bool) -> RunOutcome:
    status = hooks.on_status or (lambda _msg: None)
    status(f"run folder: {run.path}")
    try:
        with serving(models, own=own, log_file=run.server_log, status=status):
            summary = asyncio.run(_run(session, models, run, hooks, own))
    except (KeyboardInterrupt, asyncio.CancelledError) as exc:
        by = session.table.interrupted_by or ("SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C")
        if not run.config_path.is_file():  # stopped while starting: nothing was run, so nothing is left behind
            shutil.rmtree(run.path, ignore_errors=True)
            raise RunInterrupted(f"interrupted ({by}) while starting; nothing was run.", by=by) from None
        raise RunInterrupted(f"interrupted ({by}). {_how_to_go_on(run)}", by=by) from None
    except (EndpointError, EmbeddedModelError) as exc:
        raise type(exc)(f"{exc}\n{_how_to_go_on(run)}") from None
    last = session.table.state.rounds[-1] if session.table.state.rounds else None
    if last is not None and last.metric_failure:  # the run stopped on it (selection.MetricFailing): the scenario is wrong
        raise session.table.scenario.error(
            "metric.function", f"failed on every example of round {last.round} ({last.metric_failure}); expected a "
            f"function fn(output, target) returning a score from 0 to 1. The run is saved in {run.path}")
    return RunOutcome(summary=summary, run_dir=run)


def _how_to_go_on(run: RunDir) -> str:
    if run.state_path.is_file():
        return f"The run is saved in {run.path}; resume it with:\n    redraft resume {run.path}"
    return "Nothing was run yet; start the run again."


async def _run(session: Session, models: ModelProvider, run: RunDir, hooks: Hooks, close: bool) -> Summary:
    table = session.table

    def stop(by: str) -> None:
        table.interrupted_by = by
        table.cancel.cancel()

    try:
        with interrupts_cancel(stop):
            return await run_chat(Runner(session, models, run, hooks.on_message, hooks.on_progress))
    finally:
        if close:
            await models.close()


async def run_chat(runner: Runner) -> Summary:
    """Run the chat to its end, then write what it leaves in its folder (summary.json, final_prompt.txt,
    report.html) from whatever it reached, however it stopped."""
    try:
        await runner.run_chat()
    finally:
        summary = write_results(runner.run, runner.session, runner.models, runner.reached())
    return summary


def write_results(run: RunDir, session: Session, models: ModelProvider, reached: Reached) -> Summary:
    """summary.json, final_prompt.txt and report.html of a run, from what it reached."""
    table = session.table
    majority = majority_baselines(table.scenario.splits, table.metric) if table.scenario.labeled else {}
    summary = build_summary(run.path, table.scenario, reached, table.models_used(models), majority)
    write_summary(run, summary)
    write_run_report(run, summary, reached.state, table.scenario)
    return summary

"""The `redraft` command: each subcommand calls one library function."""

from __future__ import annotations

import argparse
import inspect
import io
import logging
import os
import signal
import sys
import traceback
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

# Only small modules here: the heavy ones load inside main(), where Ctrl-C is already handled.
from .console import say, visible, write
from .errors import EXIT_CODES, RedraftError, RunInterrupted, Terminated
from .secrets import scrub

if TYPE_CHECKING:
    from .api import RunOptions
    from .report import Projection


def cmd_run(args: argparse.Namespace) -> int:
    """Refine a prompt for SCENARIO in a group chat of agents, and save the run.

    SCENARIO is a path to a scenario YAML file, or the name of one from `redraft scenarios`.
    The chat streams live: each round the Prompt Engineer proposes a prompt, the Task Executor
    runs it on the scenario's inputs, the critics score the outputs, and the Moderator keeps the
    best prompt and decides whether to go on. At the end you get a summary, the final prompt and
    a run folder (runs/<time>-<scenario>/) with the transcript, every prompt, summary.json and
    report.html (see `redraft report`).

    Models come from --config, $OAI_CONFIG_LIST or ./OAI_CONFIG_LIST; with none of them, redraft
    starts an embedded local model through llama.cpp on 127.0.0.1 (Qwen2.5-Coder-0.5B when `make setup`
    fetched it, else SmolLM2-135M).

    Model replies are cached on disk (see --cache-dir), so running the same scenario again replays
    it without network calls. Ctrl-C (or SIGTERM) stops cleanly; `redraft resume RUN_DIR` continues.
    """
    from .api import dry_run, run_scenario
    from .console import Console

    if args.dry_run:
        return _print_projection(dry_run(args.scenario, _options(args)))
    console = Console(quiet=args.quiet)
    outcome = run_scenario(args.scenario, _options(args), console.hooks())
    console.summary(outcome.summary, str(outcome.run_dir.path))
    s = outcome.summary
    if s.test is not None:
        return _gate(args.fail_under, s.test.score, f"the final prompt scored {s.test.score:.3f} on test (n = {s.test.n})")
    return _gate(args.fail_under, s.best_score, "the final prompt scored " + ("n/a" if s.best_score is None else f"{s.best_score:.3f}") + " on dev")


FAILED_GATE = 3  # --fail-under: the result is below the bar (1 is a crash, 2 bad input)


def _gate(bar: float | None, score: float | None, what: str) -> int:
    """--fail-under: exit FAILED_GATE, saying so on stderr, when the score is below the bar (or there is none)."""
    if bar is None:
        return 0
    if score is None or score < bar:
        print(f"redraft: --fail-under {bar:g}: {what}, below it", file=sys.stderr)
        return FAILED_GATE
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    """Continue an interrupted run from its last completed turn.

    RUN_DIR is the run folder that `redraft run` printed. The transcript is appended to, never
    rewritten. Works after Ctrl-C, SIGTERM, a crash, a killed process, a lost model server, or a
    budget cap. The run goes on with the settings it was started with, saved in its folder: the
    scenario as it was then (an edited scenario file is named, not used), its round limit and its
    budget caps, those given on its command line included. --rounds, --max-calls, --max-tokens and
    --max-usd replace them for the rest of the run. Pass the same --config or --gguf as the
    original run if it used them.

    Only interrupted runs are continued. A finished run is not, not even with --rounds: its final
    prompt and its test score (held-out, scored once) stay as they are; start a new run to go
    further (the reply cache replays what was already asked).

    One process owns a run folder at a time: resuming a run that another process is running (or
    resuming) is refused with that process's id. A run folder whose config.json or state.json is
    damaged is refused too, changing nothing, with what is still usable and how to start again.
    """
    from .api import resume_run
    from .console import Console

    console = Console(quiet=args.quiet)
    outcome = resume_run(args.run_dir, _options(args), console.hooks())
    console.summary(outcome.summary, str(outcome.run_dir.path))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write report.html for a run: what each round changed and why, and what its numbers mean.

    RUN_DIR is a run folder, finished or interrupted (Ctrl-C, budget cap, crash, kill -9). Every run
    writes its report when it ends or stops; this writes it again from the folder alone, without
    calling a model. The page is one self-contained file that opens offline: the score per round
    (train, dev, critic panel) as a chart, each round's prompt as a diff from the best so far with
    the engineer's note, the errors (a confusion table on label metrics), the critics' issues, the
    reviewer's verdicts, the candidates and the selection decision, usage per role and round, and
    the held-out test score with its interval, every labeled score beside the majority class.
    """
    from .api import report_run

    say(f"report: {report_run(args.run_dir, note=_note)}")
    return 0


def _note(text: str) -> None:
    """A note about the run folder read (a damaged summary.json rebuilt), on stderr so stdout stays the output."""
    say(f"redraft: {text}", file=sys.stderr)


def cmd_runs(args: argparse.Namespace) -> int:
    """List past runs: when each started, its scenario, rounds, best and test score, status and why it stopped.

    Reads the run folders under --runs-dir (default ./runs, where `redraft run` puts them). The status is
    `finished`, or `resumable` for a run that was interrupted (Ctrl-C, a crash, a lost server, a budget
    cap): continue it with `redraft resume RUN_DIR`. `redraft show RUN_DIR` prints one run's summary and
    final prompt; `redraft export RUN_DIR` gives the prompt in the forms other tools take.

    --json prints a JSON list instead, a run per item: run_dir, status, scenario, started, score_scale,
    rounds (each round's prompt, train_score and dev_score), best_round, best_score, test (score, ci_low,
    ci_high, n, per_example), stop_reason and final_prompt. Folders that cannot be read are named on stderr,
    so stdout stays the JSON.
    """
    from .console import print_json, runs_table
    from .store import list_runs

    runs, broken = list_runs(args.runs_dir)
    if args.json:
        from .past_run import PastRun

        print_json([PastRun.of(r).model_dump(mode="json", exclude={"summary"}) for r in runs])
    elif runs or broken:
        for line in runs_table(runs):
            say(line)
    else:
        say(f"no runs in {args.runs_dir}")
    for path, why in broken:
        say(f"unreadable: {path}: {why}", file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Print a past run's summary and final prompt, as at the end of the run.

    RUN_DIR is a run folder (see `redraft runs`). A finished run shows what it showed when it ended; an
    interrupted one shows where its last checkpoint left it (the rounds so far, the best prompt so far)
    and how to resume it.

    --json prints the run as JSON instead: what one item of `redraft runs --json` holds, and under "summary"
    everything summary.json holds (made from the checkpoint when the run was killed before writing it).
    """
    from .console import Console, print_json
    from .store import read_run

    past = read_run(args.run_dir, purpose="show it")
    damaged = past.damage_note(written=False)
    if damaged:
        _note(damaged)
    if args.json:
        from .past_run import PastRun

        print_json(PastRun.of(past).model_dump(mode="json"))
        return 0
    status = "finished" if past.status == "finished" else f"resumable: redraft resume {past.run.path}"
    Console().summary(past.summary, str(past.run.path), status=status)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Print a run's final prompt in a form other tools take; finished and interrupted runs alike.

    --format text       the prompt as plain text
    --format messages   the chat request the run's executor sends, as OpenAI JSON: model, the system and
                        user messages ({{input}} where each input goes), temperature and max_tokens
    --format promptfoo  a promptfooconfig.yaml: the prompt, the executor's model as the provider, and the
                        scenario's held-out examples as tests asserting the run's metric (or its criteria)
    --format python     a short script that sends the prompt with the openai client

    No export holds an API key: each names the environment variable to read it from.

    --out FILE writes FILE in one step (it holds the whole export, or stays as it was). An existing FILE is
    replaced only with --force; a link is never followed: refused, or with --force replaced by the file.
    """
    from .export import check_out, export_run, write_out

    if args.out is not None:
        check_out(args.out, force=args.force)  # before any work: a wrong --out is told at once
    text = export_run(args.run_dir, args.format, note=_note)
    if args.out is not None:
        write_out(args.out, text, force=args.force)
        say(f"wrote {args.out}", file=sys.stderr)
    else:  # exact into a pipe or a file; on a terminal, its control characters shown, not obeyed
        write(sys.stdout, visible(text) if sys.stdout.isatty() else text)
    return 0


def _options(args: argparse.Namespace) -> "RunOptions":
    from .api import RunOptions
    from .chat import ReviewSettings
    from .config import Budget, check_value

    # Each cap's flag is its field's name (--max-calls sets max_calls), checked against the same bounds as the scenario's.
    caps = {name: check_value(Budget, name, getattr(args, name), "--" + name.replace("_", "-")) for name in Budget.model_fields}
    return RunOptions(
        rounds=getattr(args, "rounds", None), config=args.config, gguf=args.gguf,
        runs_dir=getattr(args, "runs_dir", "runs"), agents=getattr(args, "agents", None),
        cache_dir=args.cache_dir, no_cache=args.no_cache, budget=Budget(**caps), review=args.review,
        review_timeout=check_value(ReviewSettings, "timeout", args.review_timeout, "--review-timeout"),
        review_weight=check_value(ReviewSettings, "weight", args.review_weight, "--review-weight"),
    )


def _print_projection(p: "Projection") -> int:
    say(f"projection for up to {p.rounds} rounds (no model was called):")
    say(f"  {'role':<18}{'calls':>7}{'at most':>9}")
    for role, n in p.calls.items():
        say(f"  {role:<18}{n:>7}{p.max_calls[role]:>9}")
    say(f"  {'total':<18}{p.total_calls:>7}{sum(p.max_calls.values()):>9}")
    say(f"  tokens at most: {p.prompt_tokens} prompt + {p.completion_tokens} completion")
    if p.cost_usd is not None:
        say(f"  cost at most: ${p.cost_usd:.4f}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Check a scenario file without running it.

    Checks the YAML, every key and value, the inputs file, the critics and roles it names, and
    (when a model config is found) that every model tag exists. Prints OK or the first problem
    with its file, line and key.
    """
    from .api import validate_scenario

    s = validate_scenario(args.scenario, agents=args.agents, config=args.config)
    say(f"OK: {s.path} — scenario '{s.name}', {len(s.task_inputs)} inputs, {len(s.criteria)} criteria, "
          f"critics: {', '.join(s.critics)}, up to {s.rounds} rounds")
    for warning in s.link_warnings():
        say(f"warning: {warning}", file=sys.stderr)
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    """List the scenarios you can run: those in ./scenarios and the shipped examples."""
    from .config import list_scenarios, read_yaml

    paths = list_scenarios()
    if not paths:
        say("no scenarios found")
        return 0
    for path in paths:
        try:
            data, _ = read_yaml(path, "a YAML scenario")
            desc = " ".join(str(data.get("description", "")).split()) if isinstance(data, dict) else ""
        except RedraftError as exc:
            desc = f"(broken: {exc})"
        say(f"{path.stem:<22} {desc}")
        say(f"{'':<22} {path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Measure whether refining a prompt in the group chat beats writing it in one go.

    SCENARIO is a scenario YAML file, or the name of one from `redraft scenarios`. It needs held-out
    test examples (a `split:` with a test part); the shipped `ticket_routing` has them.

    Ways of making a prompt ("arms") are compared:
      start            your prompt as given (the seed prompt, else the task text); no call;
      single_shot      the Prompt Engineer writes its best prompt once, with no feedback;
      best_of_n        it writes N prompts independently and the best on the dev examples is kept, with
                       N chosen so this arm spends as many model calls as the sequential arm did
                       (--match tokens: as many tokens);
      best_of_n_demos  the same, each draft given worked examples from train by the loop's own code;
      demos_only       the chat whose later rounds only draw new worked examples (what the engineer,
                       critics and moderator add is sequential minus this);
      sequential       the refinement chat of `redraft run`.
    The worked-example arms need labeled examples; by default every arm the scenario allows runs.
    Each arm is repeated --repeats times with different seeds. Then every prompt is run on the test
    examples and scored by the same evaluators (the scenario's metric, or its critics), blind to the
    arm and in random order.

    The terminal shows per arm the mean score with its 95% interval, the score of each repeat,
    model calls, optimization tokens, test-time tokens per query, cost (when OAI_CONFIG_LIST has
    prices) and time; then the differences sequential - each other arm (and demos_only -
    best_of_n_demos) with intervals and p-values that count the spread between repeats, Holm-adjusted
    over the table, and a verdict that claims only what holds after the adjustment. The folder
    (--out, default compare/<time>-<scenario>/) gets compare.json, report.md, report.html and the
    chats' run folders.

    --json prints what compare.json holds on stdout instead of the table; progress and notes go to stderr.

    This makes many model calls: about (repeats x 2) chats' worth. Try --repeats 1 --rounds 2 first.
    Models come from --config, $OAI_CONFIG_LIST or ./OAI_CONFIG_LIST, else the embedded model.
    """
    from .compare import CompareOptions, compare_scenario
    from .console import ProgressLine, print_json
    from .report import terminal_table

    line = ProgressLine()

    def status(text: str) -> None:  # the models starting: a line of its own, as `run` prints it
        line.clear()
        say(f"redraft: {text}", file=sys.stderr)

    options = CompareOptions(
        repeats=args.repeats, arms=args.arms.split(",") if args.arms is not None else None, out_dir=args.out,
        match=args.match,
        rounds=args.rounds, config=args.config, gguf=args.gguf, agents=args.agents, cache_dir=args.cache_dir,
        no_cache=args.no_cache,
    )
    try:
        result = compare_scenario(args.scenario, options, on_progress=line.show, on_status=status)
    finally:
        line.clear()
    files = f"{result.out_dir}/  (compare.json, report.md, report.html, runs/)"
    if args.json:
        print_json(result.model_dump(mode="json"))
        say(f"redraft: wrote {files}", file=sys.stderr)
    else:
        say(terminal_table(result))
        say(f"\nfiles      {files}")
    gated = result.arms.get("sequential") or list(result.arms.values())[-1]
    return _gate(args.fail_under, gated.score, f"{gated.name} scored {gated.score:.3f} on test")


def _doc(fn: Callable[..., int]) -> tuple[str, str]:
    doc = inspect.cleandoc(fn.__doc__ or "")
    first, _, rest = doc.partition("\n")
    return first, doc


def _path_arg(flag: str) -> Callable[[str], str]:
    """An argparse type for a path flag that refuses an empty string (`--config "$UNSET"`): read as "no flag" it
    would be ignored silently, or as "." load the current folder. A ConfigError, not a ValueError, so argparse lets
    it through to main(), and it is the same one line, exit 2, as every other bad flag's."""
    def check(value: str) -> str:
        from .errors import ConfigError

        if not value:
            raise ConfigError(flag, "expected a path, got an empty string")
        return value

    return check


def _agents_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--agents", action="append", type=_path_arg("--agents"), metavar="DIR", help="a folder of agent cards that add to or override the shipped ones (repeatable)")


def _model_flags(p: argparse.ArgumentParser) -> None:
    """Which models answer, and the reply cache: run, resume and compare."""
    p.add_argument("--config", type=_path_arg("--config"), metavar="PATH", help="OAI_CONFIG_LIST file with your models (default: $OAI_CONFIG_LIST, ./OAI_CONFIG_LIST)")
    p.add_argument("--gguf", type=_path_arg("--gguf"), metavar="PATH", help="serve this GGUF file as the embedded model (default: $REDRAFT_GGUF, else Qwen2.5-Coder-0.5B or SmolLM2-135M)")
    p.add_argument("--cache-dir", type=_path_arg("--cache-dir"), metavar="DIR", help="where model replies are cached (default: $REDRAFT_CACHE_DIR or ~/.cache/redraft/calls)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the reply cache")


def _budget_and_review_flags(p: argparse.ArgumentParser) -> None:
    """The spending caps, the output, and the human reviewer: run and resume."""
    p.add_argument("--max-calls", type=int, metavar="N",
                   help="stop cleanly before sending more than N requests to a model (retries count; cache hits do not)")
    p.add_argument("--max-tokens", type=int, metavar="N", help="stop cleanly before spending more than N tokens")
    p.add_argument("--max-usd", type=float, metavar="X", help="stop cleanly at X dollars (needs price in OAI_CONFIG_LIST)")
    p.add_argument("--quiet", action="store_true", help="do not stream the chat; print only the summary and final prompt")
    p.add_argument("--review", action="store_true",
                   help="join as reviewer: after the critics each round, go on (Enter), give feedback (text), "
                        "/edit the prompt, /score N, /approve or /stop; works with piped input too")
    p.add_argument("--review-timeout", type=float, metavar="SECONDS", help="with --review: go on when nobody answers in time")
    p.add_argument("--review-weight", type=float, default=1.0, metavar="W", help="with --review: your /score counts as W critics (default 1)")


def _fail_under_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--fail-under", type=float, metavar="SCORE",
                        help=f"exit {FAILED_GATE} when {what} is below SCORE, on its own scale (for CI)")


def _json_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON on stdout, and nothing else there")


def _compare_args(cmp: argparse.ArgumentParser) -> None:
    """What `redraft compare` takes."""
    _fail_under_flag(cmp, "the sequential arm's test score (the last arm's when sequential is not run)")
    cmp.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file (with a test split), or the name of a shipped example")
    cmp.add_argument("--repeats", type=int, default=3, metavar="K", help="run each arm K times with different seeds, 1 to 20 (default: 3)")
    cmp.add_argument("--arms", metavar="A,B", help="comma-separated arms to run (default: all the scenario allows: "
                     "start,single_shot,best_of_n,best_of_n_demos,demos_only,sequential)")
    cmp.add_argument("--match", choices=["calls", "tokens"], default="calls",
                     help="what the best-of-N arms spend as much of as the sequential chat (default: calls)")
    cmp.add_argument("--out", type=_path_arg("--out"), metavar="DIR", help="where the reports go (default: compare/<time>-<scenario>/)")
    cmp.add_argument("--rounds", type=int, metavar="N", help="the chat's round limit (overrides the scenario)")
    _json_flag(cmp, "the comparison (what compare.json holds)")
    _agents_flag(cmp)
    _model_flags(cmp)


def _version() -> str:
    """The installed package's version (pyproject.toml's), else the source's own."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("redraft")
    except PackageNotFoundError:
        from . import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; each command's help is its docstring."""
    parser = argparse.ArgumentParser(
        prog="redraft",
        description="Agents refine a prompt in a group chat, turn by turn: a Prompt Engineer drafts, "
        "a Task Executor runs the draft on real inputs, critics score it, a Moderator keeps the best.",
        epilog="Start with: redraft scenarios, then redraft run <name>. Add --debug to see tracebacks.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"redraft {_version()}",
                        help="print redraft's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, fn: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        short, long = _doc(fn)
        p = sub.add_parser(name, help=short, description=long, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=fn)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks on errors")
        return p

    run = add("run", cmd_run)
    run.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file, or the name of a shipped example")
    run.add_argument("--rounds", type=int, metavar="N", help="at most N rounds (overrides the scenario)")
    run.add_argument("--runs-dir", default="runs", type=_path_arg("--runs-dir"), metavar="DIR", help="where run folders go (default: ./runs)")
    _agents_flag(run)
    run.add_argument("--dry-run", action="store_true", help="print the projected calls and tokens, and exit without calling a model")
    _fail_under_flag(run, "the final prompt's test score (its dev score when the scenario holds no test out)")
    _model_flags(run)
    _budget_and_review_flags(run)

    res = add("resume", cmd_resume)
    res.add_argument("run_dir", metavar="RUN_DIR", help="the run folder to continue")
    res.add_argument("--rounds", type=int, metavar="N",
                     help="the round limit for the rest of an interrupted run (a finished run is not continued)")
    _model_flags(res)
    _budget_and_review_flags(res)

    rep = add("report", cmd_report)
    rep.add_argument("run_dir", metavar="RUN_DIR", help="the run folder to report on")

    val = add("validate", cmd_validate)
    val.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file, or the name of a shipped example")
    val.add_argument("--config", type=_path_arg("--config"), metavar="PATH", help="also check model tags against this OAI_CONFIG_LIST")
    val.add_argument("--agents", action="append", type=_path_arg("--agents"), metavar="DIR", help="extra agent cards folder (repeatable)")

    _compare_args(add("compare", cmd_compare))
    add("scenarios", cmd_scenarios)

    runs = add("runs", cmd_runs)
    runs.add_argument("--runs-dir", default="runs", type=_path_arg("--runs-dir"), metavar="DIR", help="the folder `redraft run` put the runs in (default: ./runs)")
    _json_flag(runs, "the runs")
    show = add("show", cmd_show)
    show.add_argument("run_dir", metavar="RUN_DIR", help="the run folder")
    _json_flag(show, "the run")
    exp = add("export", cmd_export)
    exp.add_argument("run_dir", metavar="RUN_DIR", help="the run folder")
    exp.add_argument("--format", default="text", choices=["text", "messages", "promptfoo", "python"], help="default: text")
    exp.add_argument("--out", metavar="FILE", help="write to FILE instead of the terminal (never through a link)")
    exp.add_argument("--force", action="store_true", help="replace FILE if it exists (a link: the link itself, not its target)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `redraft` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("REDRAFT_DEBUG") == "1"
    _printable_streams()
    before = _on_sigterm(_terminate)
    try:
        code = _main(argv, debug)
        for stream in (sys.stdout, sys.stderr):
            write(stream, "")  # flush now, so a reader gone by the end is quiet, not an error at exit
        return code
    except BrokenPipeError:  # a reader gone while something printed past console.write: stop quietly
        for stream in (sys.stdout, sys.stderr):
            write(stream, "")
        return 1
    except RedraftError as exc:
        if debug:
            say(traceback.format_exc(), file=sys.stderr, end="")
        say(f"\nredraft: {exc}" if isinstance(exc, RunInterrupted) else f"error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    except KeyboardInterrupt as exc:  # Ctrl-C (or SIGTERM) before a run began, e.g. while loading
        by = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
        say(f"\nredraft: interrupted ({by}).", file=sys.stderr)
        return EXIT_CODES[by]
    except Exception as exc:  # a bug, or a failure nobody foresaw: one line, the traceback only with --debug
        if debug:
            say(traceback.format_exc(), file=sys.stderr, end="")
        by = _interrupt_inside(exc)
        if by is not None:
            say(f"\nredraft: interrupted ({by}).", file=sys.stderr)
            return EXIT_CODES[by]
        say(f"error: {type(exc).__name__}: {exc} (unexpected; --debug shows where it happened)", file=sys.stderr)
        return 1
    finally:
        if before is not None:
            _on_sigterm(before)


def _printable_streams() -> None:
    """A character the terminal's encoding cannot show (━ under PYTHONIOENCODING=ascii) is printed as ?, not fatal."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="replace")  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):  # not a TextIOWrapper (a test's capture), or closed
            pass


def _interrupt_inside(exc: BaseException) -> str | None:
    """A Ctrl-C or SIGTERM that a library caught and raised again as an error of its own: which one.

    pydantic-core, building a model's validators while Python loads redraft, turns a KeyboardInterrupt
    into a SchemaError whose message ends in "KeyboardInterrupt:" (with no __cause__ to follow)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return "SIGTERM" if isinstance(seen, Terminated) else "Ctrl-C"
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    if f"{Terminated.__name__}:" in text:
        return "SIGTERM"
    return "Ctrl-C" if "KeyboardInterrupt:" in text else None


def _main(argv: list[str], debug: bool) -> int:
    from dotenv import find_dotenv, load_dotenv

    from .config import read_text

    env_file = find_dotenv(usecwd=True)
    try:  # read here so that a .env that is not text is one clear line, like any other file
        env_text = read_text(Path(env_file)) if env_file else ""
    except RedraftError as exc:
        say(f"error: {exc}", file=sys.stderr)
        return 2
    load_dotenv(stream=io.StringIO(env_text), override=False)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if not debug:
        # AutoGen logs an agent's exception with its traceback before re-raising it; redraft reports
        # the error itself, once and plainly.
        for name in ("autogen_core", "autogen_agentchat", "autogen_ext", "httpx", "openai"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        warnings.filterwarnings("ignore", module="autogen_ext")  # model-name mapping notes for local models
    handler = logging.StreamHandler()
    handler.setFormatter(_PlainLog(tracebacks=debug))
    logging.getLogger().addHandler(handler)
    try:
        return args.func(args)
    finally:
        logging.getLogger().removeHandler(handler)


class _PlainLog(logging.Formatter):
    """Whatever a library logs reaches the user scrubbed of secrets, and without a traceback unless --debug."""

    def __init__(self, *, tracebacks: bool):
        super().__init__("%(name)s: %(message)s")
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        if not self.tracebacks:
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None, "stack_info": None})
        return visible(scrub(super().format(record)))


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated()


def _on_sigterm(handler: Any) -> Any:
    """Handle SIGTERM like Ctrl-C (a run stops cleanly, its summary written); returns the handler it replaced."""
    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        return None


if __name__ == "__main__":
    sys.exit(main())

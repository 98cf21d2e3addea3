"""Tuning runs of the chat on a benchmark task: train and dev only, never test.

The quality table (quality.py) scores test once, for the final table; changes to the search are tried here
first. Each run is the sequential chat (or, with --demos-only, the chat whose later rounds only draw worked
examples) on the same task, split and models as quality.py, seeded as compare's repeat K, and what it prints
comes from train and dev alone: the best prompt's dev score against your prompt's, and for each kind of edit
how often the engineer's reply was dropped (a repeat, unusable), ran, beat its parent on the train minibatch,
went on to dev and was chosen. On a rubric task (support_reply, product_description) compare's independent judge
also compares the final prompt's outputs with your prompt's on every train and dev input, in both orders.

    python bench/dev_chat.py --setup b --task trec --repeat 0 --repeat 1
    python bench/dev_chat.py --setup b --task trec --repeat 0 --held 100
    python bench/dev_chat.py --table

With --held N, every prompt the run scored on dev is scored again on N train examples the run never saw (those
after its train in the same shuffle of train.jsonl; trec has 200 such, sst2 100, svamp 50, bbh_navigate none):
how far the final prompt's dev score leans high, whether the best of the candidates on those examples is the one
dev chose, and the rank correlation of the two scores. A selection rule is tuned on these, never on test.

Rows go to ~/.cache/redraft-bench/dev-chat.jsonl (with the commit); the run folders stay beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import re
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from quality import CACHE, RUBRIC_TASKS, TASKS, code_version, scenario_for, start_models

from redraft.api import prepare, run_chat
from redraft.compare.judge import judge_seat
from redraft.search.evaluate import metric_results, run_prompt
from redraft.search.pairwise import judge_pairs
from redraft.chat import Runner, build_session
from redraft.config import Budget
from redraft.eval import rank_correlation as spearman
from redraft.llm import make_caller
from redraft.records import split_prompt
from redraft.store import RunDir

RESULTS = CACHE / "dev-chat.jsonl"


def edit_outcomes(folder: Path) -> dict[str, dict[str, int]]:
    """Per edit kind, rounds 2 on: asked (ran or dropped), dropped, ran (of them, second_reply: ran on its second
    reply, the first sent back), beat its parent on the minibatch, on dev, chosen."""
    state = json.loads((folder / "state.json").read_text(encoding="utf-8"))["run"]
    out: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in state["rounds"][1:]:
        for c in r.get("candidates", []):
            op = out[c["operator"]]
            op["ran"] += 1
            op["beat_parent"] += c.get("screen") is not None and c.get("parent_screen") is not None \
                and c["screen"] > c["parent_screen"]
            op["dev"] += c.get("dev") is not None
            op["chosen"] += bool(c.get("chosen"))
            op["second_reply"] += "its second reply: the first was sent back" in (c.get("changes") or "")
    for line in (folder / "transcript.jsonl").read_text(encoding="utf-8").splitlines():
        m = json.loads(line)
        if m["source"] == "prompt_engineer" and m["round"] > 1 and "\nDropped" in m.get("content", ""):
            for kind in re.findall(r"^- (\w+)[ :]", m["content"].split("\nDropped", 1)[1], re.M):
                out[kind]["dropped"] += 1
    for op in out.values():
        op["asked"] = op["ran"] + op["dropped"]
    return {k: dict(v) for k, v in sorted(out.items())}


async def run_one(args: argparse.Namespace, models, repeat: int, out: Path) -> dict:  # noqa: ANN001 - ConfiguredModels
    """One chat on train and dev; its row."""
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {"train": args.train, "dev": args.dev, "test": args.test, "minibatch": args.minibatch}
        scenario, cards = prepare(str(scenario_for(args.task, sizes, args.rounds, Path(tmp), repeat)))
        held: list = []
        if args.held:  # the same shuffle of train.jsonl, longer: what follows the run's train is never shown to it
            longer, _ = prepare(str(scenario_for(args.task, {**sizes, "train": args.train + args.held}, args.rounds,
                                                 Path(tmp), repeat)))
            held = list(longer.splits.train[args.train:])
            assert not {e.id for e in held} & {e.id for e in scenario.splits.train}
            if len(held) < args.held:
                raise SystemExit(f"--held {args.held}: train.jsonl of {args.task} has only {len(held)} examples "
                                 f"beyond the run's {args.train}")
    if args.demos_only:
        scenario = scenario.reseeded(scenario.seed, search=scenario.search.model_copy(update={"edits": "demos"}))
    if getattr(args, "demos", None):  # worked examples per prompt, in place of the count the labels give
        scenario = scenario.reseeded(scenario.seed, search=scenario.search.model_copy(update={"demos": args.demos}))
    caller = make_caller(models, Budget(), no_cache=True)
    session = build_session(scenario, cards, models, caller=caller)
    folder = RunDir(out / f"{'demos_only' if args.demos_only else 'sequential'}-r{repeat}")
    folder.prompts.mkdir(parents=True)
    t0 = time.monotonic()
    summary = await run_chat(Runner(session, models, folder, score_test=False))  # test is never run
    against = summary.against_start.model_dump() if summary.against_start else None
    row = {"date": time.strftime("%Y-%m-%d %H:%M"), "code": code_version(), "setup": args.setup, "task": args.task,
           "repeat": repeat, "demos_only": args.demos_only, "demos": getattr(args, "demos", None),
           "rounds": len(summary.rounds),
           "best_dev": summary.best_score, "against_start": against, "calls": summary.usage.calls,
           "tokens": summary.usage.prompt_tokens + summary.usage.completion_tokens,
           "seconds": round(time.monotonic() - t0, 1), "edits": edit_outcomes(folder.path), "run": str(folder.path)}
    if args.task in RUBRIC_TASKS:
        row["judged"] = await judged_against_start(session.table, cards, models, summary.final_prompt, repeat)
    if held:
        row["held"] = await held_out(session.table, held, summary.final_prompt)
    return row


async def held_out(table, held: list, final: str) -> dict:  # noqa: ANN001 - RunContext
    """Every prompt the run scored on dev, scored again on train examples it never saw (what follows its train in
    the same shuffle of train.jsonl): how well dev picked. Dev is 30 examples and the final prompt is the one that
    did best there, so its dev score leans high; these say by how much, and whether a rule that picks differently
    among the same candidates would have done better, without touching test."""
    scored = [ev for ev in table.state.evaluations.values() if ev.dev]
    found = []
    for ev in scored:
        outputs = await run_prompt(table, ev.prompt, held, 0)
        results = metric_results(table, held, outputs)
        found.append({"round": ev.round, "operator": ev.candidate.operator, "demos": len(ev.candidate.demos),
                      "dev": ev.mean("dev"), "dev_n": len(ev.dev), "held": sum(r.score for r in results.values()) / len(held),
                      "per_example": [results[e.id].score for e in held],
                      "final": ev.prompt.strip() == final.strip(), "start": ev.candidate.operator == "start"})
    return {"n": len(held), "ids": [e.id for e in held], "prompts": found}


async def judged_against_start(table, cards, models, final: str, repeat: int) -> dict:  # noqa: ANN001
    """A rubric run's final prompt against your prompt on train and dev (never test), by compare's independent
    judge: both prompts run afresh on every train and dev input, each pair judged in both orders. The final
    prompt was chosen on some of these inputs, so this leans its way; it is for tuning, not the table. An input the
    final prompt shows as a worked example is left out (its reply there would be copied)."""
    s = table.scenario
    shown = {given for given, _ in split_prompt(final)[1]}
    examples = [e for e in [*s.splits.train, *s.splits.dev] if e.input not in shown]
    judge = judge_seat(s, cards, models, table)
    mine = await run_prompt(table, final, examples, 0)
    theirs = await run_prompt(table, s.start_prompt, examples, 0)
    verdicts = await judge_pairs(table, judge, examples, mine, theirs, seed=s.seed * 31 + repeat)
    usable = [v.preference for v in verdicts if v.preference is not None]
    both = [v.consistent for v in verdicts if v.asked and v.consistent is not None]
    return {"n": len(examples), "final_is_start": final.strip() == s.start_prompt.strip(),
            "preference": sum(usable) / len(usable) if usable else None,
            "win": sum(p > 0.5 for p in usable), "tie": sum(p == 0.5 for p in usable), "loss": sum(p < 0.5 for p in usable),
            "consistency": sum(both) / len(both) if both else None}


def line(row: dict) -> str:
    """One row as text: dev against the start, then each edit kind's outcomes."""
    a = row["against_start"] or {}
    edits = "; ".join(f"{k} {v.get('asked', 0)} asked, {v.get('dropped', 0)} dropped, "
                      f"{v.get('second_reply', 0)} ran on a second reply, {v.get('beat_parent', 0)} beat "
                      f"parent, {v.get('dev', 0)} dev, {v.get('chosen', 0)} chosen" for k, v in row["edits"].items())
    arm = ("demos_only" if row["demos_only"] else "sequential") + (f", {row['demos']} worked examples"
                                                                   if row.get("demos") else "")
    judged = row.get("judged")
    verdict = (f" | judge on train+dev, final vs start: win/tie/loss {judged['win']}/{judged['tie']}/{judged['loss']} of "
               f"{judged['n']}, consistency {judged['consistency'] if judged['consistency'] is None else round(judged['consistency'], 2)}"
               + (" (final is your prompt)" if judged["final_is_start"] else "")) if judged else ""
    held = ""
    if row.get("held"):
        h = row["held"]
        final = next((p for p in h["prompts"] if p["final"]), None)
        start = next((p for p in h["prompts"] if p["start"]), None)
        top = max(h["prompts"], key=lambda p: p["held"])
        shown = [p for p in h["prompts"] if p.get("demos")]  # zero-shot against few-shot says little about picking
        held = (f" | held-out train (n={h['n']}): final {final['held'] if final else float('nan'):.2f}, your prompt "
                f"{start['held'] if start else float('nan'):.2f}, best of the {len(h['prompts'])} dev-scored prompts "
                f"{top['held']:.2f} (round {top['round']} {top['operator']}, dev {top['dev']:.2f}); dev-held rank "
                f"correlation {rank_correlation([p['dev'] for p in h['prompts']], [p['held'] for p in h['prompts']])}"
                f" (among the {len(shown)} with worked examples {rank_correlation([p['dev'] for p in shown], [p['held'] for p in shown])})"
                f"; on its second half, picked by " + ", ".join(f"{k} {v:.2f}" for k, v in picks(h).items()))
    return (f"{row['code']} {row['task']} {arm} r{row['repeat']}: dev {a.get('start', float('nan')):.2f} -> "
            f"{row['best_dev']:.2f} ({row['calls']} calls, {row['tokens']:,} tokens, {row['seconds']:.0f} s) | {edits}"
            f"{verdict}{held}")


def picks(held: dict) -> dict[str, float]:
    """What other ways of choosing among the same dev-scored prompts would have scored, on the second half of the
    held-out examples (the first half stands in for more validation data): the loop's final prompt; the best on
    dev and the first half together, among the top 3 on dev or among all; your prompt; and the best possible."""
    prompts, n = held["prompts"], held["n"]
    half = n // 2
    if not prompts or half == 0:
        return {}

    def late(p: dict) -> float:
        return sum(p["per_example"][half:]) / (n - half)

    def pooled(p: dict) -> float:
        return (p["dev"] * p["dev_n"] + sum(p["per_example"][:half])) / (p["dev_n"] + half)

    order = sorted(prompts, key=lambda p: (not p["final"], p["round"]))  # ties: the loop's pick, then earlier
    top3 = sorted(order, key=lambda p: -p["dev"])[:3]
    out = {"final": next((late(p) for p in prompts if p["final"]), float("nan")),
           "pooled_top3": late(max(top3, key=pooled)), "pooled_all": late(max(order, key=pooled)),
           "start": next((late(p) for p in prompts if p["start"]), float("nan")),
           "oracle": max(late(p) for p in prompts)}
    return {k: round(v, 3) for k, v in out.items()}


def pick_summary(rows: list[dict]) -> list[str]:
    """Per task and arm, each way of choosing averaged over the runs with held-out scores, and how each differs
    from the loop's own final, run by run."""
    groups: dict[tuple[str, bool, int], list[dict[str, float]]] = collections.defaultdict(list)
    for r in rows:
        if r.get("held") and picks(r["held"]):
            groups[(r["task"], r["demos_only"], r.get("demos") or 0)].append(picks(r["held"]))
    out = []
    for (task, demos_only, demos), found in sorted(groups.items()):
        parts = []
        for rule in found[0]:
            mean = sum(f[rule] for f in found) / len(found)
            diffs = [f[rule] - f["final"] for f in found]
            parts.append(f"{rule} {mean:.3f}" + ("" if rule == "final" else
                         f" ({sum(diffs) / len(diffs):+.3f} against final, better in {sum(d > 0 for d in diffs)}, "
                         f"worse in {sum(d < 0 for d in diffs)})"))
        arm = ("demos_only" if demos_only else "sequential") + (f" with {demos} worked examples" if demos else "")
        out.append(f"{task} {arm}, {len(found)} run(s), on the second half "
                   f"of the held-out examples: " + "; ".join(parts))
    return out


def rank_correlation(xs: list[float], ys: list[float]) -> str:
    """Spearman's rho of two lists as text (redraft.eval's); 'n/a' under three values or when either is constant."""
    rho = spearman(xs, ys)
    return "n/a" if rho is None else f"{rho:+.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=sorted([*TASKS, *RUBRIC_TASKS]))
    ap.add_argument("--setup", choices=["a", "b", "embedded"], default="b")
    ap.add_argument("--repeat", type=int, action="append", help="seed as compare's repeat K (repeatable; default 0)")
    ap.add_argument("--demos-only", action="store_true", help="later rounds draw worked examples only")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--train", type=int, default=100)
    ap.add_argument("--dev", type=int, default=30)
    ap.add_argument("--test", type=int, default=100, help="carved out as quality.py does, so dev is the same; never run")
    ap.add_argument("--minibatch", type=int, default=8)
    ap.add_argument("--demos", type=int, metavar="K", help="worked examples per prompt (default: twice the labels, "
                                                            "at most 12; 4 on number tasks)")
    ap.add_argument("--held", type=int, default=0, metavar="N",
                    help="also score every prompt the run scored on dev on N train examples it never saw (labeled tasks)")
    ap.add_argument("--table", action="store_true", help="print the rows gathered so far")
    args = ap.parse_args(argv)
    if args.table:
        rows = [json.loads(x) for x in RESULTS.read_text().splitlines()] if RESULTS.exists() else []
        print("\n".join(line(r) for r in rows))
        print("\n".join(pick_summary(rows)))
        return 0
    if args.task is None:
        ap.error("give --task (or --table)")
    out = CACHE / "dev-chat" / f"{time.strftime('%Y%m%d-%H%M%S')}-{args.setup}-{args.task}"
    out.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        models, _names = start_models(args.setup, stack, out)
        asyncio.run(run_all(args, models, out))
    return 0


async def run_all(args: argparse.Namespace, models, out: Path) -> None:  # noqa: ANN001 - ConfiguredModels
    """Each repeat in turn, in one event loop (the model clients belong to it), then the clients closed."""
    try:
        for k in args.repeat or [0]:
            row = await run_one(args, models, k, out)
            with RESULTS.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
            print(line(row), flush=True)
    finally:
        await models.close()


if __name__ == "__main__":
    sys.exit(main())

"""Quality benchmark: every compare arm (your prompt, single-shot, best-of-N with and without worked examples,
worked examples alone, sequential refinement) on labeled tasks from ../shared/datasets, 3 repeats by default.

One task per invocation, so a table can be built across sessions: each run appends its row to a
results file outside the repository (default ~/.cache/redraft-bench/quality-results.jsonl) and
`--table` prints every row gathered so far. The test slice is carved out of dev.jsonl with a split
seed fixed here (never tuned on); train.jsonl is the pool the loop learns from. It prints figures;
it is not a test.

Model setups (each llama.cpp server on 127.0.0.1, started and stopped here, no polling while idle):
  b         Qwen2.5-Coder-1.5B for the engineer, critics and moderator (2 slots) and Qwen2.5-Coder-0.5B
            for the executor (4 slots), joined by one OAI_CONFIG_LIST with two tags: the realistic
            split, a strong optimizer and a cheap task model
  a         Qwen2.5-Coder-0.5B for every role (one server)
  embedded  the default embedded model (Qwen2.5-Coder-0.5B when fetched, else SmolLM2-135M) for every role (a quick check that the path runs)

Rubric tasks (support_reply, product_description) run the shipped scenario as a user gets it, its split and
criteria unchanged; the independent judge sits on the optimizer model and scores each arm by its preference
over your prompt in position-swapped pairs.

    python bench/quality.py --setup b --task trec
    python bench/quality.py --setup a --task trec
    python bench/quality.py --setup b --task support_reply
    python bench/quality.py --setup b --task trec --arm dspy_mipro --repeat 0
    python bench/quality.py --table

--arm dspy_mipro or dspy_gepa runs one of DSPy's optimizers instead of compare's arms, as an anchor on the same
models, split, test carve and metric (bench/dspy_arms.py; it needs the bench-only extra bench-dspy), and --table
sets its row against sequential's.

--table also says how many times each task's test carve was scored (one row = one scoring): tune on train
and dev, and score test once for the final table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import yaml

# The redraft of this checkout, whatever the venv has installed: a table's later repeat runs from a worktree
# of the commit its first repeat ran on, and the figures (and the loop hash, read from this checkout's git)
# must come from that code, not from the editable install's.
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from redraft.compare import ARMS, CompareOptions, compare_scenario, differences
from redraft.compare.plan import REPEAT_STRIDE
from redraft.compare.verdict import arm_interval
from redraft.eval import repeated_difference
from redraft.llm import ConfiguredModels, EmbeddedServer, default_gguf, parse_config_list

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT.parent / "shared" / "datasets"
TOOLS = ROOT.parent / "shared" / "tools"
CACHE = Path(os.environ.get("REDRAFT_BENCH_DIR", Path.home() / ".cache" / "redraft-bench"))
SPLIT_SEED = 20261127  # fixed before any tuning; test = examples of dev.jsonl that dev never sees

TASKS: dict[str, dict] = {
    "sst2": {
        "task": "Classify the sentiment of a movie review sentence as positive or negative.",
        "metric": {"type": "label", "labels": ["positive", "negative"]},
        "max_tokens": 20,
    },
    "trec": {
        "task": "Classify what kind of answer a question asks for: abbreviation, description, entity, human, "
                "location or number.",
        "metric": {"type": "label", "labels": ["abbreviation", "description", "entity", "human", "location", "number"]},
        "max_tokens": 20,
    },
    "bbh_navigate": {
        "task": "Follow the movement instructions and decide whether you end where you started. The answer is Yes or No.",
        "metric": {"type": "label", "labels": ["Yes", "No"]},
        "max_tokens": 200,
    },
    "svamp": {
        "task": "Solve the arithmetic word problem. The answer is a number.",
        "metric": {"type": "numeric", "tolerance": 0.01},
        "max_tokens": 200,
    },
}
# Rubric tasks: the scenarios redraft ships (inputs, split and criteria as a user gets them), with the
# optimizer roles and the independent judge on the optimizer model and the executor on the task model.
# Their score is the judge's preference over the user's prompt (start = 0.5), from pairs in both orders.
RUBRIC_TASKS = ("support_reply", "product_description")
SHIPPED = ROOT / "redraft" / "scenarios"
# DSPy's optimizers as anchors (bench/dspy_arms.py): run one per invocation with --arm, outside compare, on the
# same scenario, models and test carve; a row of their own, which --table sets against sequential's.
ANCHORS = ("dspy_mipro", "dspy_gepa")

SETUPS = {
    # setup: (optimizer model, task model); None = the default embedded model
    "b": ("get-qwen-1.5b.sh", "get-qwen-0.5b.sh"),
    "a": ("get-qwen-0.5b.sh", "get-qwen-0.5b.sh"),
    "embedded": (None, None),
}


def gguf_for(script: str | None) -> Path:
    """The GGUF a shared/tools script builds (it checks the hash and prints the path), or the embedded one."""
    if script is None:
        return default_gguf()
    out = subprocess.run(["bash", str(TOOLS / script)], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def start_models(setup: str, stack: ExitStack, log_dir: Path) -> tuple[ConfiguredModels, dict[str, str]]:
    """Start one server per distinct model and join them in one OAI_CONFIG_LIST with tags optimizer and task."""
    optimizer, task = (gguf_for(s) for s in SETUPS[setup])
    servers: dict[Path, EmbeddedServer] = {}
    # One slot per concurrent request: the task model runs the examples 4 at a time, the optimizer 2.
    for gguf, slots in ((task, 4), (optimizer, 2)):
        if gguf not in servers:
            server = EmbeddedServer(gguf, parallel=slots, log_file=log_dir / f"server-{gguf.stem}.log")
            stack.callback(server.stop)
            print(f"  … starting {gguf.name} ({slots} slots)", file=sys.stderr, flush=True)
            server.start(timeout=300)
            servers[gguf] = server
    entries = []
    for tag, gguf in (("optimizer", optimizer), ("task", task)):
        s = servers[gguf]
        entries.append({"model": s.model_name, "base_url": s.base_url, "api_key": "not-needed", "tags": [tag],
                        "model_info": {"structured_output": True}, "max_concurrency": s.parallel,
                        "timeout": 900, "max_retries": 2})
    config = log_dir / "OAI_CONFIG_LIST"
    config.write_text(json.dumps(entries, indent=2), encoding="utf-8")
    names = {"optimizer": optimizer.name, "task": task.name}
    return ConfiguredModels(parse_config_list(config.read_text(encoding="utf-8"), str(config)), str(config)), names


def rubric_scenario_for(name: str, rounds: int | None, folder: Path, repeat: int = 0) -> Path:
    """The shipped rubric scenario with each role on its setup's model tag; the judge on the optimizer model."""
    data = yaml.safe_load((SHIPPED / f"{name}.yaml").read_text(encoding="utf-8"))
    data["seed"] = data.get("seed", 0) + REPEAT_STRIDE * repeat
    optimizer = {"model": "optimizer"}
    data["roles"] = {**{r: optimizer for r in ("prompt_engineer", "moderator", "judge", *data["critics"])},
                     "task_executor": {"model": "task"}}
    data["rounds"] = rounds or data["rounds"]
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def scenario_for(name: str, sizes: dict[str, int], rounds: int | None, folder: Path, repeat: int = 0) -> Path:
    """A scenario YAML reading the shared dataset in place (nothing is copied into the repository). `repeat` k
    seeds it as compare seeds its repeat k, so k run alone is the same as repeat k of a longer compare."""
    if name in RUBRIC_TASKS:
        return rubric_scenario_for(name, rounds, folder, repeat)
    spec = TASKS[name]
    optimizer = {"model": "optimizer"}
    data = {
        "name": f"bench_{name}",
        "description": f"Benchmark task {name} from shared/datasets.",
        "task": spec["task"],
        "dataset": {
            "train_file": str(DATASETS / name / "train.jsonl"),
            "dev_file": str(DATASETS / name / "dev.jsonl"),  # test is carved out of dev, disjoint from it
            "split": {"train": sizes["train"], "dev": sizes["dev"], "test": sizes["test"], "seed": SPLIT_SEED},
        },
        "metric": spec["metric"],
        "criteria": [{"name": "correct", "description": "The answer is right."},
                     {"name": "format", "description": "The answer has the required form."}],
        "critics": ["fidelity", "format"],
        "roles": {"prompt_engineer": optimizer, "moderator": optimizer, "fidelity": optimizer, "format": optimizer,
                  "task_executor": {"model": "task"}},
        "minibatch": sizes["minibatch"],
        "noise_repeats": 0,
        "rounds": rounds or 4,
        "stop": {"patience": rounds or 4},
        "max_tokens": spec["max_tokens"],
        "seed": REPEAT_STRIDE * repeat,
    }
    path = folder / f"bench_{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def carve(args: argparse.Namespace) -> tuple[dict[str, int], int]:
    """The task's split sizes (with the minibatch) and split seed: the shipped ones on a rubric task."""
    if args.task in RUBRIC_TASKS:  # the shipped split, as a user runs it
        shipped = yaml.safe_load((SHIPPED / f"{args.task}.yaml").read_text(encoding="utf-8"))
        sizes = {**shipped["split"], "minibatch": shipped["minibatch"]}
        return sizes, sizes.pop("seed")
    return {"train": args.train, "dev": args.dev, "test": args.test, "minibatch": args.minibatch}, SPLIT_SEED


def run_folder(args: argparse.Namespace, what: str) -> Path:
    """A new folder for one invocation's servers' logs and outputs, beside the results file's default place."""
    out = CACHE / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{args.setup}-{args.task}{what}"
    out.mkdir(parents=True, exist_ok=True)
    return out


def run_task(args: argparse.Namespace) -> dict:
    sizes, split_seed = carve(args)
    out = run_folder(args, "")
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        models, names = start_models(args.setup, stack, out)
        path = scenario_for(args.task, sizes, args.rounds, Path(tmp), args.repeat or 0)
        rounds = yaml.safe_load(path.read_text(encoding="utf-8"))["rounds"]
        t0 = time.monotonic()
        result = compare_scenario(str(path), CompareOptions(
            repeats=1 if args.repeat is not None else args.repeats, rounds=rounds, out_dir=out / "compare", no_cache=True,
            arms=args.arms.split(",") if args.arms else None, match=args.match,
        ), models=models, on_progress=lambda text: print(f"  … {text}", file=sys.stderr, flush=True))
        wall = time.monotonic() - t0
    arms = {a.name: {"score": round(a.score, 4), "ci": [round(a.ci_low, 4), round(a.ci_high, 4)], "calls": a.calls,
                     "tokens": a.tokens, "test_tokens_per_query": a.test_tokens_per_query, "seconds": round(a.seconds, 1),
                     "per_repeat": [round(r.score, 4) for r in a.repeats],
                     "dev": [r.dev_score for r in a.repeats], "candidates": [r.candidates for r in a.repeats],
                     "judged": [j.model_dump() for j in a.judged],
                     "per_example": [r.per_example for r in a.repeats]}
            for a in result.arms.values()}
    diffs = [{"a": d.a, "b": d.b, "estimate": round(d.estimate, 4), "ci": [round(d.ci_low, 4), round(d.ci_high, 4)],
              "p": d.p_value, "p_adjusted": d.p_adjusted, "significant": d.significant} for d in result.differences]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"), "setup": args.setup, "task": args.task, "models": names,
        "rounds": rounds, "repeats": 1 if args.repeat is not None else args.repeats, "repeat": args.repeat, "match": args.match, **sizes, "split_seed": split_seed, "arms": arms, "differences": diffs,
        # compare's baseline: train's most frequent target given as every test answer, scored by the metric
        "majority": {"label": result.majority.answer, "score": result.majority.score} if result.majority else None,
        "wall_seconds": round(wall, 1), "out": str(out), "verdict": result.verdict, "code": code_version(),
        "loop": loop_version(),
        "judge_consistency": result.judge_consistency, "judge_calls": result.judge_calls,
    }


def dspy_arms_module(arm: str):
    """bench/dspy_arms.py, which imports DSPy: only on --arm's path, so quality.py runs without the extra."""
    try:
        import dspy_arms
    except ModuleNotFoundError as exc:
        if exc.name not in ("dspy", "optuna"):
            raise
        sys.exit(f"--arm {arm} needs DSPy, the bench-only extra: pip install -e '.[bench-dspy]' in a venv of its own "
                 "(see bench/README.md)")
    return dspy_arms


def run_anchor(args: argparse.Namespace) -> dict:
    """A DSPy arm on the task's scenario, models and test carve, its repeat k seeded as compare seeds its repeat k
    (the scenario's seed + REPEAT_STRIDE * k, so --repeat K alone is repeat K of a longer run)."""
    dspy_arms = dspy_arms_module(args.arm)
    sizes, split_seed = carve(args)
    out = run_folder(args, f"-{args.arm}")
    first, count = (args.repeat, 1) if args.repeat is not None else (0, args.repeats)
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        models, names = start_models(args.setup, stack, out)
        path = scenario_for(args.task, sizes, None, Path(tmp), first)
        seed = yaml.safe_load(path.read_text(encoding="utf-8"))["seed"]
        t0 = time.monotonic()
        runs = dspy_arms.run(args.arm, path, models, [seed + REPEAT_STRIDE * k for k in range(count)], out)
        wall = time.monotonic() - t0
    each = [{**{k: r[k] for k in ("calls", "tokens", "test_tokens_per_query", "seconds")},
             "per_example": [r["per_example"]], "per_repeat": [round(r["score"], 4)], "dev": [r["dev"]]} for r in runs]
    details = [{k: v for k, v in r.items() if k != "per_example"} for r in runs]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"), "setup": args.setup, "task": args.task, "models": names,
        "anchor": args.arm, "dspy": dspy_arms.VERSION, "auto": dspy_arms.AUTO, "rounds": None, "repeats": count,
        "repeat": args.repeat, "match": None, **sizes, "split_seed": split_seed,
        "arms": {args.arm: {**summed(each), "details": details}}, "differences": [], "majority": None,
        "wall_seconds": round(wall, 1), "out": str(out), "verdict": None, "code": code_version(),
        "loop": loop_version(ANCHOR_CODE),
    }


# What decides a row's scores: the loop, the verdict, the models' clients, the cards and the shipped scenarios.
# Commits that change only reports, exports or the CLI leave it as it is, so single repeats run in different
# sessions still join into one row.
LOOP_CODE = ("redraft/search", "redraft/compare", "redraft/eval", "redraft/chat", "redraft/config", "redraft/llm",
             "redraft/agents", "redraft/scenarios", "bench/quality.py")
ANCHOR_CODE = (*LOOP_CODE, "bench/dspy_arms.py")  # a DSPy row's: redraft's metric, splits and seats, and the arm


def git(*args: str) -> str:
    """A git command's output in this checkout."""
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def loop_version(paths: tuple[str, ...] = LOOP_CODE) -> str:
    """A short hash of the committed code that decides the scores (with '+' when any of it has uncommitted changes)."""
    trees = " ".join(git("rev-parse", f"HEAD:{path}") for path in paths)
    changed = git("status", "--porcelain", "--untracked-files=no", "--", *paths)
    return hashlib.sha256(trees.encode()).hexdigest()[:10] + ("+" if changed else "")


def code_version() -> str:
    """The commit the figures came from (with '+' when the work tree had changes), so rows from
    different sessions can be told apart."""
    return git("rev-parse", "--short", "HEAD") + ("+" if git("status", "--porcelain", "--untracked-files=no") else "")


def row_lines(row: dict) -> list[str]:
    """The markdown lines of one task's result."""
    lines = []
    head = f"| {row['setup']} | {row['task']} | {row.get('repeats', 1)}"
    for name in (*ARMS, *ANCHORS):
        a = row["arms"].get(name)
        if a:
            per_query = a.get("test_tokens_per_query")
            label = f"{name} (DSPy {row['dspy']}, auto={row['auto']})" if name in ANCHORS else name
            lines.append(f"{head} | {label} | {a['score']:.3f} | {a['ci'][0]:.3f}..{a['ci'][1]:.3f} | {a['calls']} | "
                         f"{a['tokens']:,} | {'' if per_query is None else f'{per_query:.0f}'} | {a['seconds']:.0f} | "
                         f"{row.get('code', '')} |")
    m = row["majority"]
    if m:
        lines.append(f"{head} | majority ('{m['label']}') | {m['score']:.3f} | | 0 | 0 | | 0 | |")
    for name in ARMS:
        for j in row["arms"].get(name, {}).get("judged", []):
            if name != j["against"]:
                lines.append(f"{head} | {name} vs {j['against']} (judge) | win {j['win']:.2f} tie {j['tie']:.2f} "
                             f"loss {j['loss']:.2f} | win {j['win_low']:.2f}..{j['win_high']:.2f} | "
                             f"consistency {j['consistency'] if j['consistency'] is None else round(j['consistency'], 2)} "
                             f"| | | | |")
    for d in row["differences"]:
        mark = " (significant)" if d["significant"] else ""
        p = d.get("p_adjusted", d["p"])
        lines.append(f"{head} | {d['a']} − {d['b']} | {d['estimate']:+.3f} | {d['ci'][0]:+.3f}..{d['ci'][1]:+.3f} | "
                     f"adjusted p={p}{mark} | | | | |")
    return lines


def by_repeat(row: dict, arm: str) -> dict[int, list[float]]:
    """An arm's test scores per repeat index (a compare of K repeats ran 0..K-1); none in rows from before
    per_example was recorded."""
    per_example = row["arms"][arm].get("per_example", [])
    ks = row.get("repeat")
    ks = list(range(len(per_example))) if ks is None else [ks] if isinstance(ks, int) else ks
    return dict(zip(ks, per_example))


CARVE = ("setup", "task", "train", "dev", "test", "split_seed")  # same models, splits and test examples


def against_sequential(row: dict, rows: list[dict]) -> list[str]:
    """An anchor row's line sequential − anchor: over the repeats both ran (repeat k of each seeded alike) on the
    same test examples, with redraft's test of a repeated difference, as compare's differences (not adjusted with
    them: a test apart). From the sequential row with the most repeats in common, the latest on a tie."""
    name = row.get("anchor")
    if name is None:
        return []
    mine = by_repeat(row, name)
    found = [(sorted(mine.keys() & by_repeat(r, "sequential").keys()), r["date"], r) for r in rows
             if "sequential" in r["arms"] and all(r[k] == row[k] for k in CARVE)]
    common, _, seq = max(found, key=lambda f: (len(f[0]), f[1]), default=([], "", None))
    if not common:
        return []
    theirs = by_repeat(seq, "sequential")
    d = repeated_difference([theirs[k] for k in common], [mine[k] for k in common])
    return [f"| {row['setup']} | {row['task']} | {len(common)} | sequential − {name} | {d.estimate:+.3f} | "
            f"{d.low:+.3f}..{d.high:+.3f} | p={round(d.p_value, 4)} (repeats {', '.join(map(str, common))}; "
            f"sequential at code {seq.get('code', '')}) | | | | |"]


HEADER = ["| setup | task | repeats | arm | test score | 95% CI | optimization calls | optimization tokens | "
          "test tokens/query | seconds | code |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]


def join_repeats(rows: list[dict]) -> list[dict]:
    """Rows as printed: the single repeats (--repeat K) of one task, setup, loop code (loop_version) and carve joined into one
    row, as if one compare had run them (scores averaged, costs summed, differences over repeats x examples and
    Holm-adjusted again); complete rows, and single repeats with no partner yet, as they are."""
    groups: dict[str, dict[int, dict]] = {}
    out: list[dict] = []
    for r in rows:
        if r.get("repeat") is None:
            out.append(r)
            continue
        key = json.dumps([r.get("loop", r["code"]), *(r[k] for k in ("setup", "task", "train", "dev", "test", "minibatch",
                                                                       "split_seed", "rounds", "match")),
                          r.get("anchor"), r.get("dspy")])
        groups.setdefault(key, {}).setdefault(r["repeat"], r)  # a repeat run twice: the first one counts
    for parts in groups.values():
        out.append(_joined([parts[k] for k in sorted(parts)]) if len(parts) > 1 else next(iter(parts.values())))
    return out


def _joined(parts: list[dict]) -> dict:
    """One row from single-repeat rows of the same task and code (a rubric arm's judge summaries listed per repeat)."""
    names = [a for a in (*ARMS, *ANCHORS) if all(a in p["arms"] for p in parts)]
    arms = {name: summed([p["arms"][name] for p in parts]) for name in names}
    diffs = differences({n: arms[n]["per_example"] for n in names})
    return {**parts[0], "repeats": len(parts), "repeat": [p["repeat"] for p in parts], "arms": arms,
            "differences": [{"a": d.a, "b": d.b, "estimate": round(d.estimate, 4), "ci": [round(d.ci_low, 4),
                             round(d.ci_high, 4)], "p": d.p_value, "p_adjusted": d.p_adjusted,
                             "significant": d.significant} for d in diffs],
            "wall_seconds": sum(p["wall_seconds"] for p in parts), "verdict": None}


def summed(each: list[dict]) -> dict:
    """One arm over its repeats' figures (each with per_example as a list of repeats): scores averaged, the interval
    over the examples' means, costs summed."""
    per_example = [rep for a in each for rep in a["per_example"]]
    ci = arm_interval([sum(v) / len(v) for v in zip(*per_example)])
    per_query = [a["test_tokens_per_query"] for a in each if a.get("test_tokens_per_query") is not None]
    return {"score": round(sum(sum(r) / len(r) for r in per_example) / len(per_example), 4),
            "ci": [round(ci.low, 4), round(ci.high, 4)], "per_example": per_example,
            "test_tokens_per_query": sum(per_query) / len(per_query) if per_query else None,
            **{k: sum(a[k] for a in each) for k in ("calls", "tokens", "seconds")},
            **{k: [v for a in each for v in a.get(k, [])] for k in ("per_repeat", "dev", "candidates", "judged")}}


def scored_counts(rows: list[dict]) -> list[str]:
    """How many times each task's test carve (setup, task, sizes, split seed) was scored: every row is one."""
    counts: dict[str, int] = {}
    for r in rows:
        key = f"{r['task']} (test {r['test']} of dev, split seed {r['split_seed']})"
        counts[key] = counts.get(key, 0) + 1
    return [f"- {key}: test scored {n} time{'s' if n != 1 else ''}" for key, n in sorted(counts.items())]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=sorted([*TASKS, *RUBRIC_TASKS]), help="the task to run (one per invocation)")
    ap.add_argument("--setup", choices=sorted(SETUPS), default="b")
    ap.add_argument("--rounds", type=int, help="round limit (default: 4 on labeled tasks, the shipped scenario's on rubric ones)")
    ap.add_argument("--train", type=int, default=100, help="train examples the loop may learn from")
    ap.add_argument("--dev", type=int, default=30)
    ap.add_argument("--test", type=int, default=100)
    ap.add_argument("--minibatch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3, help="repeats of every arm (default 3)")
    ap.add_argument("--repeat", type=int, choices=range(20), metavar="K",
                    help="run repeat K alone (0-based), seeded as repeat K of a compare: a long task split over "
                         "sessions; --table joins a task's single repeats of one code version into one row")
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--arms", help=f"comma-separated arms (default: all: {','.join(ARMS)})")
    which.add_argument("--arm", choices=ANCHORS,
                       help="run a DSPy anchor arm instead of compare's (labeled tasks; needs the extra bench-dspy): "
                            "MIPROv2 or GEPA, auto=light, on the same models, split and test carve; its own row")
    ap.add_argument("--match", choices=["calls", "tokens"], default="calls")
    ap.add_argument("--results", type=Path, default=CACHE / "quality-results.jsonl", help="the file each run appends to")
    ap.add_argument("--table", action="store_true", help="print every result gathered so far and exit")
    args = ap.parse_args(argv)
    if args.table:
        rows = [json.loads(x) for x in args.results.read_text().splitlines() if x.strip()] if args.results.exists() else []
        joined = join_repeats(rows)
        print("\n".join(HEADER + [line for r in joined for line in row_lines(r) + against_sequential(r, joined)]))
        print("\n" + "\n".join(scored_counts(rows)))
        return 0
    if args.task is None:
        ap.error("give --task (or --table)")
    if args.arm and args.task not in TASKS:
        ap.error(f"--arm runs on the labeled tasks only: {', '.join(TASKS)}")
    if args.task in TASKS and not DATASETS.is_dir():
        print(f"shared datasets not found at {DATASETS}", file=sys.stderr)
        return 2
    row = run_anchor(args) if args.arm else run_task(args)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    with args.results.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")
    print(f"\nsetup {row['setup']} ({row['models']['optimizer']} optimizer, {row['models']['task']} task model); "
          f"train {row['train']}, dev {row['dev']}, test {row['test']} (split seed {row['split_seed']}); "
          f"{'rounds ' + str(row['rounds']) if row['rounds'] else row['anchor']}; wall {row['wall_seconds']:.0f} s")
    print("\n".join(HEADER + row_lines(row)))
    verdict = row["verdict"] or "--table sets it against sequential where a row of the same carve has it"
    print(f"\n{verdict}\nappended to {args.results}; run folders in {row['out']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

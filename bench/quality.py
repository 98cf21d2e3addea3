"""Quality benchmark: single-shot vs sequential refinement on labeled tasks from ../shared/datasets.

For each task, the test slice is carved out of dev.jsonl (never tuned on), the train pool is
train.jsonl. Both arms run through `redraft compare` (same test inputs, same metric), on the
embedded SmolLM2-135M by default, or on another GGUF (e.g. the Qwen2.5-Coder-0.5B that
../shared/tools/get-qwen-0.5b.sh builds) with --gguf. It prints figures; it is not a test.

    python bench/quality.py                       # sst2, trec, bbh_navigate, svamp on the embedded model
    python bench/quality.py --gguf "$(bash ../shared/tools/get-qwen-0.5b.sh)" --tasks sst2,svamp
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

from redraft.compare import CompareOptions, compare_scenario

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT.parent / "shared" / "datasets"

TASKS: dict[str, dict] = {
    "sst2": {
        "task": "Classify the sentiment of a movie review sentence. Answer with exactly one word: positive or negative.",
        "metric": {"type": "label", "labels": ["positive", "negative"]},
        "max_tokens": 20,
    },
    "trec": {
        "task": "Classify what a question asks for. Answer with exactly one of: abbreviation, description, "
                "entity, human, location, number.",
        "metric": {"type": "label", "labels": ["abbreviation", "description", "entity", "human", "location", "number"]},
        "max_tokens": 20,
    },
    "bbh_navigate": {
        "task": "Follow the movement instructions and decide whether you end where you started. "
                "Think briefly, then end with 'Answer: Yes' or 'Answer: No'.",
        "metric": {"type": "label", "labels": ["Yes", "No"]},
        "max_tokens": 160,
    },
    "svamp": {
        "task": "Solve the arithmetic word problem. Think in a few short steps, then end with 'Answer: <number>'.",
        "metric": {"type": "numeric", "tolerance": 0.01},
        "max_tokens": 160,
    },
    "bbh_object_counting": {
        "task": "Count the objects the question asks about. End with 'Answer: <number>'.",
        "metric": {"type": "numeric", "tolerance": 0.01},
        "max_tokens": 120,
    },
}


def scenario_for(name: str, spec: dict, sizes: dict[str, int], rounds: int, folder: Path) -> Path:
    """A scenario YAML reading the shared dataset in place (nothing is copied into the repository)."""
    data = {
        "name": f"bench_{name}",
        "description": f"Benchmark task {name} from shared/datasets.",
        "task": spec["task"],
        "dataset": {
            "train_file": str(DATASETS / name / "train.jsonl"),
            "dev_file": str(DATASETS / name / "dev.jsonl"),  # test is carved out of dev, disjoint from it
            "split": {"train": sizes["train"], "dev": sizes["dev"], "test": sizes["test"], "seed": 0},
        },
        "metric": spec["metric"],
        "criteria": [{"name": "correct", "description": "The answer is right."},
                     {"name": "format", "description": "The answer has the required form."}],
        "critics": ["fidelity", "format"],
        "minibatch": sizes["minibatch"],
        "noise_repeats": 0,
        "rounds": rounds,
        "stop": {"patience": rounds, "target_score": 1.0},
        "max_tokens": spec["max_tokens"],
        "seed": 0,
    }
    path = folder / f"bench_{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default="sst2,trec,bbh_navigate,svamp", help="comma-separated tasks")
    ap.add_argument("--gguf", help="serve this GGUF instead of SmolLM2-135M (e.g. the Qwen 0.5B)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--train", type=int, default=20)
    ap.add_argument("--dev", type=int, default=16)
    ap.add_argument("--test", type=int, default=40)
    ap.add_argument("--minibatch", type=int, default=6)
    ap.add_argument("--out", default=str(ROOT / "bench" / "out"), help="where quality.json and quality.md go")
    args = ap.parse_args(argv)
    if not DATASETS.is_dir():
        print(f"shared datasets not found at {DATASETS}", file=sys.stderr)
        return 2
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        print(f"unknown task {unknown[0]}; known: {', '.join(TASKS)}", file=sys.stderr)
        return 2
    sizes = {"train": args.train, "dev": args.dev, "test": args.test, "minibatch": args.minibatch}
    model = Path(args.gguf).name if args.gguf else "SmolLM2-135M-Instruct (embedded)"
    rows = []
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in tasks:
            path = scenario_for(name, TASKS[name], sizes, args.rounds, Path(tmp))
            t0 = time.monotonic()
            result = compare_scenario(str(path), CompareOptions(
                repeats=args.repeats, arms=["single_shot", "sequential"], rounds=args.rounds, gguf=args.gguf,
                out_dir=Path(tmp) / f"compare-{name}", no_cache=True,
            ), on_progress=lambda text: print(f"  … {text}", file=sys.stderr, flush=True))
            for arm in result.arms.values():
                rows.append({"task": name, "arm": arm.name, "score": round(arm.score, 4), "ci_low": round(arm.ci_low, 4),
                             "ci_high": round(arm.ci_high, 4), "n_test": len(result.examples), "calls": arm.calls,
                             "tokens": arm.tokens, "seconds": round(arm.seconds, 1)})
            diff = next((d for d in result.differences if d.a == "sequential" and d.b == "single_shot"), None)
            if diff is not None:
                rows.append({"task": name, "arm": "sequential − single_shot", "score": round(diff.estimate, 4),
                             "ci_low": round(diff.ci_low, 4), "ci_high": round(diff.ci_high, 4), "n_test": len(result.examples),
                             "calls": None, "tokens": None, "seconds": round(time.monotonic() - t0, 1)})
            print(f"{name}: {result.verdict}", flush=True)
    header = "| task | arm | test accuracy | 95% CI | n | LLM calls | tokens | seconds |\n|---|---|---|---|---|---|---|---|"
    lines = [header] + [
        f"| {r['task']} | {r['arm']} | {r['score']:.3f} | {r['ci_low']:.3f}..{r['ci_high']:.3f} | {r['n_test']} | "
        f"{r['calls'] if r['calls'] is not None else ''} | {r['tokens'] if r['tokens'] is not None else ''} | {r['seconds']} |"
        for r in rows
    ]
    table = "\n".join(lines)
    meta = {"model": model, "rounds": args.rounds, "repeats": args.repeats, **sizes,
            "date": time.strftime("%Y-%m-%d"), "rows": rows}
    stem = "quality" if not args.gguf else f"quality-{Path(args.gguf).stem}"
    (out / f"{stem}.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    (out / f"{stem}.md").write_text(f"# Quality: {model}\n\n{table}\n", encoding="utf-8")
    print(f"\nmodel: {model}; rounds {args.rounds}, repeats {args.repeats}, train {args.train}, dev {args.dev}, "
          f"test {args.test} (carved out of dev)\n{table}\n\nwritten: {out / (stem + '.json')}, {out / (stem + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

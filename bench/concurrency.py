"""Does a round run its calls in parallel? Wall time of a round against its critical path.

Usage (from the repo root, after `make setup`):

    python bench/concurrency.py                  # the default settings below; prints a table
    python bench/concurrency.py --latency 0.3

A fake OpenAI server, in a child process, answers every call after a fixed latency (each
request sleeps in its own thread, so sleeps overlap). After one unreported warm-up run (imports, first client), a run of
two rounds per setting is timed from the transcript hooks:

- round 1 = from the task message to the moderator's decision. Its critical path is one
  latency each for the Prompt Engineer, the executor calls (ceil(N / max_concurrency) waves),
  the critics (ceil(K / max_concurrency) waves), the judge-noise re-scorings when the scenario
  has `noise_repeats` (ceil(R / max_concurrency) waves) and the Moderator's note;
- round 2 = from that decision to the stop message: the same without the Moderator's call (the
  last round stops without asking the model).

ratio = measured / critical path; 1.0 is perfect parallelism, the target is <= 1.2.
Writes bench/out/concurrency.json. These are figures, not assertions.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the fake server lives with the tests

from fakeserver import ChildServer  # noqa: E402

from redraft import Hooks, RunOptions, run_scenario  # noqa: E402
from redraft.config import PACKAGE_AGENTS, load_scenario

SHIPPED_CRITICS = ["clarity", "fidelity", "format"]
SETTINGS = [  # (inputs N, critics K, max_concurrency)
    (8, 3, 16),
    (16, 5, 32),
    (8, 3, 4),
]


def critic_names(k: int) -> list[str]:
    """K critic names: the shipped ones first, then copies."""
    return SHIPPED_CRITICS[:k] + [f"critic_{i}" for i in range(len(SHIPPED_CRITICS) + 1, k + 1)]


def write_files(folder: Path, n: int, k: int) -> Path:
    """The scenario, and copies of a shipped critic card under new names when K exceeds the shipped three."""
    agents = folder / "agents"  # beside the scenario: redraft layers it over the shipped cards
    agents.mkdir(exist_ok=True)
    template = (PACKAGE_AGENTS / "clarity.yaml").read_text(encoding="utf-8")
    for name in critic_names(k)[len(SHIPPED_CRITICS):]:
        (agents / f"{name}.yaml").write_text(template.replace("name: clarity", f"name: {name}", 1), encoding="utf-8")
    items = "\n".join(f'  - "Customer {i}: can I get a refund for an order delivered {7 * i} days ago?"'
                      for i in range(1, n + 1))
    path = folder / f"concurrency-{n}-{k}.yaml"
    path.write_text(f"""\
name: concurrency
description: Benchmark scenario.
task: Answer a refund request under the 30-day policy.
inputs:
{items}
criteria:
  - name: policy
    description: Follows the 30-day policy.
  - name: tone
    description: Polite and short.
critics: [{", ".join(critic_names(k))}]
rounds: 2
stop:
  patience: 3
concurrency: {min(n, 64)}
""", encoding="utf-8")
    return path


def measure(n: int, k: int, max_conc: int, latency: float, folder: Path) -> dict[str, Any]:
    """One two-round run: each round's wall time against its critical path."""
    scenario = write_files(folder, n, k)
    repeats = int(getattr(load_scenario(scenario), "noise_repeats", 0) or 0)
    waves = lambda calls: math.ceil(calls / max_conc)  # noqa: E731
    panel_waves = waves(k) + (waves(repeats) if repeats else 0)
    path_r1 = (1 + waves(n) + panel_waves + 1) * latency
    path_r2 = (1 + waves(n) + panel_waves) * latency

    stamps: list[tuple[float, dict[str, Any]]] = []
    with ChildServer(latency=latency) as srv:
        cfg = folder / "models.json"
        cfg.write_text(json.dumps([{"model": "fake-model", "base_url": srv.base_url, "api_key": "sk-bench",
                                    "max_concurrency": max_conc, "max_retries": 0, "timeout": 30}]))
        t0 = time.monotonic()
        out = run_scenario(str(scenario), RunOptions(config=str(cfg), no_cache=True, runs_dir=folder / "runs"),
                           Hooks(on_message=lambda e: stamps.append((time.monotonic(), e))))
        wall = time.monotonic() - t0
        peak = peak_in_flight(srv.hits())
    start = stamps[0][0]
    decision = next(t for t, e in stamps if e["source"] == "moderator" and e["round"] == 1)
    stop = stamps[-1][0]
    r1, r2 = decision - start, stop - decision
    return {
        "inputs": n, "critics": k, "max_concurrency": max_conc, "latency_s": latency, "noise_repeats": repeats,
        "model_calls": out.summary.usage.network_calls, "peak_in_flight": peak,
        "round1_s": round(r1, 3), "round1_critical_s": round(path_r1, 3), "round1_ratio": round(r1 / path_r1, 3),
        "round2_s": round(r2, 3), "round2_critical_s": round(path_r2, 3), "round2_ratio": round(r2 / path_r2, 3),
        "wall_s": round(wall, 3), "stop_reason": out.summary.stop_reason,
    }


def peak_in_flight(hits: list[tuple[float, float]]) -> int:
    """The most requests the server was handling at once."""
    events = sorted([(a, 1) for a, _ in hits] + [(d, -1) for _, d in hits])
    peak = now = 0
    for _, d in events:
        now += d
        peak = max(peak, now)
    return peak


def main(argv: list[str] | None = None) -> int:
    """Run every setting, print the table, write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--latency", type=float, default=0.2, help="seconds the server takes per call (default 0.2)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "concurrency.json")
    args = ap.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory(prefix="redraft-bench-") as tmp:
        warm = Path(tmp) / "warm-up"  # the first run imports the OpenAI client stack: keep that out of the figures
        warm.mkdir()
        measure(2, 1, 4, 0.01, warm)
        for i, (n, k, m) in enumerate(SETTINGS):
            folder = Path(tmp) / f"setting-{i}"
            folder.mkdir()
            rows.append(measure(n, k, m, args.latency, folder))

    print(f"redraft concurrency: two rounds, server latency {args.latency:.2f} s per call; "
          "ratio = measured / critical path (target <= 1.2)")
    head = f"{'N':>4}{'K':>4}{'max_conc':>10}{'calls':>7}{'peak':>6}{'round 1':>10}{'path':>8}{'ratio':>7}" \
           f"{'round 2':>10}{'path':>8}{'ratio':>7}"
    print(head)
    for r in rows:
        print(f"{r['inputs']:>4}{r['critics']:>4}{r['max_concurrency']:>10}{r['model_calls']:>7}"
              f"{r['peak_in_flight']:>6}"
              f"{r['round1_s']:>9.2f}s{r['round1_critical_s']:>7.2f}s{r['round1_ratio']:>7.2f}"
              f"{r['round2_s']:>9.2f}s{r['round2_critical_s']:>7.2f}s{r['round2_ratio']:>7.2f}")
    worst = max(max(r["round1_ratio"], r["round2_ratio"]) for r in rows)
    print(f"\nworst ratio {worst:.2f} ({'within' if worst <= 1.2 else 'OVER'} the 1.2 target); "
          f"noise_repeats = {rows[0]['noise_repeats']} (a re-scoring wave after the critics, counted in the path)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": date.today().isoformat(),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average_1min": round(os.getloadavg()[0], 2)},
        "latency_s": args.latency, "rows": rows,
    }, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

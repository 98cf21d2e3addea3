"""Does compare's test of a difference hold its error rate, and how much can it find?

Simulated worlds, no model: two arms are scored on the same n test examples in K repeats. Each
repeat's prompt has a quality drawn around the arm's mean (run-to-run sd `--repeat-sd`); each example
has a difficulty shared by both arms; each score is right/wrong. With identical arms the test
should flag at most 5 % of worlds; with a planted effect it should flag most: an effect spread evenly over
the examples (`power`), or one that lands on a share of them, fully (`power, landed`: a gain of +0.15 as 15 %
of the examples turned right in every repeat, as worked examples fix the inputs they resemble). The family check
runs five identical arms at once (compare's differences) and counts worlds where any Holm-adjusted
difference is flagged.

    python bench/null_check.py                     # the table in bench/README.md
    python bench/null_check.py --worlds 100 --repeats 3 --repeat-sd 0.1
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from redraft.eval.repeats import holm, repeated_difference  # noqa: E402


def arm(rng: random.Random, difficulty: list[float], repeats: int, mean: float, sd: float) -> list[list[float]]:
    """K repeats of one arm: a prompt quality per repeat, a right/wrong score per example."""
    rows = []
    for _ in range(repeats):
        q = mean + rng.gauss(0, sd)
        rows.append([1.0 if rng.random() < min(1.0, max(0.0, q + d)) else 0.0 for d in difficulty])
    return rows


def landed_share(worlds: int, repeats: int, n: int, sd: float, effect: float, seed: int) -> float:
    """Power on a gain that lands on some examples only, as worked examples fix the inputs they resemble: a
    share `effect` of the examples goes from the arm's base chance to right, in every repeat."""
    rng = random.Random(seed)
    hits = 0
    for _ in range(worlds):
        difficulty = [rng.gauss(0, 0.25) for _ in range(n)]
        fixed = [rng.random() < effect for _ in range(n)]
        base = arm(rng, difficulty, repeats, 0.25, sd)
        better = [[1.0 if f else x for f, x in zip(fixed, row)] for row in arm(rng, difficulty, repeats, 0.25, sd)]
        hits += repeated_difference(better, base).p_value < 0.05
    return hits / worlds


def flagged_share(worlds: int, repeats: int, n: int, sd: float, effect: float, seed: int) -> float:
    """The share of worlds whose difference (arm with `effect` − arm without) is significant at 5 %."""
    rng = random.Random(seed)
    hits = 0
    for _ in range(worlds):
        difficulty = [rng.gauss(0, 0.25) for _ in range(n)]
        d = repeated_difference(arm(rng, difficulty, repeats, 0.55 + effect, sd), arm(rng, difficulty, repeats, 0.55, sd))
        hits += d.p_value < 0.05
    return hits / worlds


def family_share(worlds: int, repeats: int, n: int, sd: float, seed: int, arms: int = 6) -> float:
    """The share of worlds where any of compare's five differences between identical arms is flagged after Holm."""
    rng = random.Random(seed)
    hits = 0
    for _ in range(worlds):
        difficulty = [rng.gauss(0, 0.25) for _ in range(n)]
        tables = [arm(rng, difficulty, repeats, 0.55, sd) for _ in range(arms)]
        # sequential (0) against every other arm, and demos_only (1) against best_of_n_demos (2)
        pairs = [(0, j) for j in range(1, arms)] + [(1, 2)]
        ps = holm([repeated_difference(tables[i], tables[j]).p_value for i, j in pairs])
        hits += any(p < 0.05 for p in ps)
    return hits / worlds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worlds", type=int, default=300)
    ap.add_argument("--n", type=int, default=100, help="test examples")
    ap.add_argument("--repeats", type=int, nargs="+", default=[3, 5])
    ap.add_argument("--repeat-sd", type=float, nargs="+", default=[0.0, 0.05, 0.1])
    ap.add_argument("--effect", type=float, default=0.15)
    args = ap.parse_args()
    print(f"{args.worlds} worlds per row, n = {args.n} test examples, a planted effect of +{args.effect:.2f}")
    print(f"{'repeats':>7} {'run sd':>6} | {'flagged, identical':>18} {'family (Holm)':>13} | {'power':>5} "
          f"{'power, landed':>13}")
    for k in args.repeats:
        for sd in args.repeat_sd:
            null = flagged_share(args.worlds, k, args.n, sd, 0.0, seed=1)
            fam = family_share(args.worlds, k, args.n, sd, seed=2)
            power = flagged_share(args.worlds, k, args.n, sd, args.effect, seed=3)
            landed = landed_share(args.worlds, k, args.n, sd, args.effect, seed=4)
            print(f"{k:>7} {sd:>6.2f} | {null:>18.3f} {fam:>13.3f} | {power:>5.2f} {landed:>13.2f}", flush=True)


if __name__ == "__main__":
    main()

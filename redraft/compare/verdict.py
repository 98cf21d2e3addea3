"""What a comparison concludes: the differences it tests, their p-values adjusted for testing several,
each arm's interval, and the one-sentence verdict that claims only what holds after the adjustment."""

from __future__ import annotations

from ..eval import Interval, holm, mean_ci, repeated_difference
from ..records import ARM_NAMES, ARMS, Arm, ArmResult, Difference

SIGNIFICANCE = 0.05  # on the Holm-adjusted p-value


def tested_pairs(arms: list[Arm]) -> list[tuple[Arm, Arm]]:
    """The differences one comparison tests: sequential against each other arm run (without sequential, the
    last arm run against each other), and worked examples alone against best-of-N with worked examples — the
    ablation that says what the engineer, critics and moderator add over the examples."""
    present = [a for a in ARMS if a in arms]
    if len(present) < 2:
        return []
    ref = "sequential" if "sequential" in present else present[-1]
    pairs = [(ref, b) for b in present if b != ref]
    if ref != "demos_only" and {"demos_only", "best_of_n_demos"} <= set(present):
        pairs.append(("demos_only", "best_of_n_demos"))
    return pairs


def differences(tables: dict[Arm, list[list[float]]], *, level: float = 0.95) -> list[Difference]:
    """The tested differences between arms: tables[arm][k][i] is repeat k's score on test example i (repeat k
    of every arm shares its seed). Each difference counts run-to-run variation (the repeat is the unit) and
    its p-value is Holm-adjusted over all of them: the table as a whole flags at most 5 % of the time when
    no arm differs. Pairs whose arms were not run are left out."""
    pairs = tested_pairs([a for a in tables])
    found = [(a, b, repeated_difference(tables[a], tables[b], level=level)) for a, b in pairs]
    adjusted = holm([d.p_value for _, _, d in found])
    return [Difference(a=a, b=b, estimate=d.estimate, ci_low=d.low, ci_high=d.high, wins=d.wins, ties=d.ties,
                       losses=d.losses, significant=p < SIGNIFICANCE, p_value=round(d.p_value, 4),
                       p_adjusted=round(p, 4), df=d.df)
            for (a, b, d), p in zip(found, adjusted)]


def arm_interval(per_example: list[float], *, seed: int = 0) -> Interval:
    """The 95 % interval of an arm's mean score.

    The repeats are averaged within each example first and the examples are resampled; the spread between
    repeats shows in the per-repeat scores (the differences count it).
    """
    return mean_ci(per_example, seed=seed)


def _clause(d: Difference) -> tuple[str, str]:
    """(verb, what follows it) for one difference, so equal verbs can be joined."""
    p = f"adjusted p={d.p_adjusted if d.p_adjusted is not None else 1:.2f}"
    ci = f"95% CI {d.ci_low:+.2f}..{d.ci_high:+.2f}, {p}"
    other = ARM_NAMES.get(d.b, d.b)
    if not d.significant:  # the interval is in the table; the sentence says only that no difference was shown
        return "was not shown to differ from", f"{other} ({d.estimate:+.2f}, {p})"
    if d.estimate > 0:
        return "beat", f"{other} by {d.estimate:+.2f} ({ci})"
    return "scored below", f"{other} by {-d.estimate:.2f} ({ci})"


def verdict(result_arms: dict[Arm, ArmResult], diffs: list[Difference], n_examples: int, repeats: int = 1) -> str:
    """Plain sentences: who beat whom, by how much, and where a difference was not shown — only what holds
    after the adjustment for testing several differences."""
    if not diffs:
        arm = next(iter(result_arms.values()))
        return (f"Only {ARM_NAMES.get(arm.name, arm.name)} was run, so there is nothing to compare: it scored "
                f"{arm.score:.2f} (95% CI {arm.ci_low:.2f}..{arm.ci_high:.2f}) on {n_examples} held-out test examples.")
    where = f"On {n_examples} held-out test examples" + (f" and {repeats} repeats" if repeats > 1 else "")
    sentences = []
    for subject in dict.fromkeys(d.a for d in diffs):
        clauses = [_clause(d) for d in diffs if d.a == subject]
        text = ""
        for i, (verb, rest) in enumerate(clauses):
            same = i > 0 and clauses[i - 1][0] == verb
            text += ((" or from " if verb.startswith("was not") else " and ") + rest if same
                     else (" and " if i else "") + f"{verb} {rest}")
        sentences.append(f"{ARM_NAMES.get(subject, subject)} {text}")
    return f"{where}, " + "; ".join(sentences) + "."

"""The error pattern of a prompt, for the Prompt Engineer: what its outputs get wrong, counted over
every train example it has been run on (ProTeGi's "textual gradient" starts from exactly this).

For labels: expected -> got counts. For numbers: how far off, and which way. Failing examples are
drawn across the error kinds, so the engineer sees the pattern and not five cases of one mistake.
"""

from __future__ import annotations

import collections
import random
import statistics
from typing import Sequence

from ..config import Example, ExampleResult

NO_ANSWER = "(no answer found)"


def error_kind(kind: str, example: Example, result: ExampleResult) -> str:
    """The cell an error falls in: 'expected -> got' for labels, too high / too low / none for numbers."""
    if kind == "label":
        return f"expected {example.target} -> answered {result.extracted or NO_ANSWER}"
    if kind == "numeric":
        if result.extracted is None:
            return "no number in the answer"
        try:
            got, want = float(result.extracted), float(example.target)
        except ValueError:
            return "wrong number"
        return "answer too high" if got > want else "answer too low"
    return "wrong"


def error_pattern(kind: str, examples: Sequence[Example], results: dict[str, ExampleResult], *, top: int = 6) -> str:
    """A short summary of what is right and what goes wrong, over the examples that have results."""
    scored = [e for e in examples if e.id in results]
    if not scored:
        return "(no scored examples yet)"
    right = sum(1 for e in scored if results[e.id].score >= 1)
    lines = [f"{right} of {len(scored)} train examples right."]
    cells = collections.Counter(error_kind(kind, e, results[e.id]) for e in scored if results[e.id].score < 1)
    if kind == "label":
        by_label: dict[str, list[float]] = collections.defaultdict(list)
        for e in scored:
            by_label[e.target].append(results[e.id].score)
        recall = ", ".join(f"{label} {int(sum(v))}/{len(v)}" for label, v in sorted(by_label.items()))
        lines.append(f"Right per expected label: {recall}.")
        answered = collections.Counter(results[e.id].extracted or NO_ANSWER for e in scored)
        lines.append("Answers given: " + ", ".join(f"{a} {n}" for a, n in answered.most_common()) + ".")
    if kind == "numeric":
        gaps = _relative_gaps(scored, results)
        if gaps:
            lines.append(f"Wrong numbers are off by a median {statistics.median(gaps):.0%} of the right answer.")
    if cells:
        lines.append("Most frequent errors:")
        lines += [f"- {cell}: {n}" for cell, n in cells.most_common(top)]
    return "\n".join(lines)


def confusion(examples: Sequence[Example], results: dict[str, ExampleResult]) -> collections.Counter[tuple[str, str]]:
    """(expected, answered) counts over the examples that have results; a right answer counts as its target."""
    cells: collections.Counter[tuple[str, str]] = collections.Counter()
    for e in examples:
        r = results.get(e.id)
        if r is not None:
            cells[e.target, e.target if r.score >= 1 else (r.extracted or NO_ANSWER)] += 1
    return cells


def top_error(kind: str, examples: Sequence[Example], results: dict[str, ExampleResult]) -> str | None:
    """The most frequent error with its count, e.g. 'expected human -> answered description (5 of 12)'."""
    scored = [e for e in examples if e.id in results]
    cells = collections.Counter(error_kind(kind, e, results[e.id]) for e in scored if results[e.id].score < 1)
    if not cells:
        return None
    cell, n = cells.most_common(1)[0]
    return f"{cell} ({n} of {len(scored)} train examples)"


def _relative_gaps(examples: Sequence[Example], results: dict[str, ExampleResult]) -> list[float]:
    gaps = []
    for e in examples:
        r = results[e.id]
        if r.score >= 1 or r.extracted is None:
            continue
        try:
            got, want = float(r.extracted), float(e.target)
        except ValueError:
            continue
        if want:
            gaps.append(abs(got - want) / abs(want))
    return gaps


def pick_failures(kind: str, examples: Sequence[Example], results: dict[str, ExampleResult], k: int,
                  rng: random.Random) -> list[Example]:
    """Up to k failing examples, taken in turn from each error kind (most frequent kind first)."""
    cells: dict[str, list[Example]] = collections.defaultdict(list)
    for e in examples:
        r = results.get(e.id)
        if r is not None and r.score < 1:
            cells[error_kind(kind, e, r)].append(e)
    for members in cells.values():
        rng.shuffle(members)
    order = sorted(cells, key=lambda c: (-len(cells[c]), c))
    picked: list[Example] = []
    while len(picked) < k and any(cells[c] for c in order):
        for c in order:
            if cells[c] and len(picked) < k:
                picked.append(cells[c].pop())
    return picked


def failures_block(examples: Sequence[Example], outputs: dict[str, str], results: dict[str, ExampleResult],
                   limit: int = 300) -> str:
    """The failing examples as the engineer reads them: input, expected, what came out."""
    lines = []
    for n, e in enumerate(examples, 1):
        got = " ".join(outputs.get(e.id, "").split())
        got = got if len(got) <= limit else got[: limit - 3] + "..."
        read = results[e.id].extracted if e.id in results else None
        lines.append(f"[{n}] input: {e.input}\n    expected: {e.target}\n    got: {got or '(empty)'}"
                     + (f" (read as: {read})" if read and read != got else ""))
    return "\n".join(lines) or "(none)"


def rank_correlation(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rank correlation (ties get their mean rank); None when either side is constant."""
    if len(a) != len(b) or len(a) < 3:
        return None
    ra, rb = _ranks(a), _ranks(b)
    try:
        return statistics.correlation(ra, rb)
    except statistics.StatisticsError:
        return None


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks

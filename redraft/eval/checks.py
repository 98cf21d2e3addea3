"""The task's hard constraints, checked by code: an output's word count, its ending, text it must not contain
(a scenario's `checks:`), and the facts of the task a prompt must keep (its numbers and quoted text). A small
judge weighs a missing signature against a friendlier tone however it likes; these are not matters of taste."""

from __future__ import annotations

import re
from typing import Sequence

from ..config import Checks

_WORD = re.compile(r"\w+(?:['’-]\w+)*")


def words(text: str) -> int:
    """How many words a text has (hyphenated and apostrophe words count once; a dash or a sign does not)."""
    return len(_WORD.findall(text))


def failed_checks(checks: Checks | None, output: str) -> list[str]:
    """What an output fails of the checks, one phrase each ("has 156 words, at most 120"); empty when it passes."""
    if checks is None:
        return []
    out = []
    n = words(output)
    if checks.max_words is not None and n > checks.max_words:
        out.append(f"has {n} words, at most {checks.max_words}")
    if checks.min_words is not None and n < checks.min_words:
        out.append(f"has {n} words, at least {checks.min_words}")
    if checks.ends_with is not None and not output.rstrip().endswith(checks.ends_with.rstrip()):
        out.append(f'does not end with "{checks.ends_with}"')
    low = output.lower()
    out += [f'contains "{x}"' for x in checks.excludes if x.lower() in low]
    return out


# A fact the task states: a quoted name or phrase, or a number (30 days, 120 words, 5.90).
_FACT = re.compile(r'"([^"\n]+)"|“([^”\n]+)”|(?<![\w.])(\d+(?:[.,]\d+)?)(?![\w])')
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def task_facts(task: str) -> list[str]:
    """The task's numbers and quoted text, in order, each once."""
    found = [next(g for g in m.groups() if g) for m in _FACT.finditer(task)]
    return list(dict.fromkeys(found))


def missing_facts(task: str, prompt: str, before: str | None = None) -> list[str]:
    """The task's facts a prompt does not state (of those `before`, the prompt it was revised from, stated): the
    1.5B engineer's rewrite of support_reply dropped the refund policy's 30 and 14 days and the signature."""
    facts = task_facts(task) if before is None else [f for f in task_facts(task) if _states(before, f)]
    return [f for f in facts if not _states(prompt, f)]


def _states(text: str, fact: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(fact)}(?![\w])", " ".join(text.split())) is not None


def restore_facts(task: str, prompt: str, before: str | None = None) -> tuple[str, list[str]]:
    """The prompt with the task's sentences that state a fact it dropped (one `before` stated) appended, as the
    task words them; and those facts. A prompt that keeps every fact comes back unchanged."""
    gone = missing_facts(task, prompt, before)
    if not gone:
        return prompt, []
    sentences = [" ".join(s.split()) for s in _SENTENCE.split(task.strip()) if s.strip()]
    back = [s for s in sentences if any(f in s for f in gone)]
    return f"{prompt.rstrip()}\n{' '.join(dict.fromkeys(back))}", gone


def dropped_labels(labels: Sequence[str], before: str, prompt: str) -> list[str]:
    """The labels `before` names (as words, without case) that a rewrite of it no longer names: MIPROv2's best
    trec program on the 0.5B was an instruction without the label list, and scored 0.13 on test."""
    def names(text: str, label: str) -> bool:
        return re.search(rf"(?<!\w){re.escape(label.casefold())}(?!\w)", text.casefold()) is not None
    return [label for label in labels if names(before, label) and not names(prompt, label)]


# A list of one-word choices ("positive, negative, or neutral", "<positive/negative/neutral>", "human or location")
# that ends at punctuation or the end of the text, so "positive or negative, nothing else" is the list of two.
_ITEM = r"[^\W\d_][\w-]*"
_CHOICES = re.compile(rf"(?<![\w-])({_ITEM}(?:\s*(?:,\s*(?:or\s+)?|/|\|)\s*{_ITEM}|\s+or\s+{_ITEM})+)"
                      rf"(?=\s*(?:[.;:,)>\]\"'\n]|$))")
_CHOICE_SPLIT = re.compile(r"\s*(?:,\s*(?:or\s+)?|/|\|)\s*|\s+or\s+")


def offered_labels(labels: Sequence[str], text: str) -> set[str]:
    """The words a text offers as answers beside the labels: the other choices of every list of choices that names
    two labels or more (without case)."""
    known = {label.casefold() for label in labels}
    found: set[str] = set()
    for m in _CHOICES.finditer(text):
        items = [x.casefold() for x in _CHOICE_SPLIT.split(m[1]) if x]
        if sum(x in known for x in items) >= 2:
            found |= {x for x in items if x not in known}
    return found


def new_labels(labels: Sequence[str], before: str, prompt: str) -> list[str]:
    """Answers a prompt offers beside the labels that `before` did not: on sst2 a `define_labels` addition told the
    0.5B to classify reviews "as positive, negative, or neutral", won dev by two answers and lost 7 of 100 on test
    against a draw of worked examples; the metric counts any answer but a label as wrong."""
    return sorted(offered_labels(labels, prompt) - offered_labels(labels, before))


def new_numbers(prompt: str, *sources: str) -> list[str]:
    """The numbers a prompt states that none of `sources` does, in order, each once."""
    found = [m[3] for m in _FACT.finditer(prompt) if m[3]]
    return [n for n in dict.fromkeys(found) if not any(_states(s, n) for s in sources)]


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def _spans(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def copied_input(prompt: str, before: str, inputs: Sequence[str], shortest: int = 20, span: int = 7) -> str | None:
    """An input (of `shortest` characters or more) that a prompt quotes and `before` did not, compared word by word
    without case or punctuation: the whole input, or `span` words in a row that no other input has (what inputs
    share, such as bbh_navigate's "If you follow these instructions", is the task's wording, not one input's). The
    1.5B engineer pasted a customer's email into support_reply's prompt, so every reply answered that email; on
    sst2 it wrote "Answer negative when you see a sentence that says 'a horrible , 99-minute stink bomb.'" and
    "... 'treasure planet is truly gorgeous to behold.'" (the end of a longer review) into the instructions."""
    text, was = _tokens(prompt), _tokens(before)
    given = [(i, _tokens(i)) for i in inputs if len(" ".join(i.split())) >= shortest]
    shared: dict[tuple[str, ...], int] = {}
    for _, w in given:
        for gram in _spans(w, span):
            shared[gram] = shared.get(gram, 0) + 1
    quoted, old = _spans(text, span), _spans(was, span)
    flat, flat_was = f" {' '.join(text)} ", f" {' '.join(was)} "
    for original, w in given:
        whole = f" {' '.join(w)} "
        if len(w) <= span and whole.strip() and whole in flat and whole not in flat_was:
            return original
        if len(w) > span and any(g in quoted and g not in old and shared[g] == 1 for g in _spans(w, span)):
            return original
    return _quoted_from_one(prompt, flat_was, [(i, _tokens(i)) for i in inputs])


# A phrase in quotation marks: "…", “…”, ‘…’, or '…' (an apostrophe inside a word, as in "don't", opens none).
_QUOTED = re.compile(r'"([^"\n]+)"|“([^”\n]+)”|‘([^’\n]+)’|(?<!\w)\'([^\'\n]+)\'(?!\w)')


def _quoted_from_one(prompt: str, flat_was: str, inputs: Sequence[tuple[str, list[str]]]) -> str | None:
    """The input a phrase of two words or more that the prompt quotes (and the prompt it came from did not) is
    taken from, when only one input has it: on sst2 the 1.5B defined 'positive' as "a sentence that is clearly
    positive about the movie 'Reign of Fire'", a title one train review named, and that prompt was final."""
    for m in _QUOTED.finditer(prompt):
        phrase = _tokens(next(g for g in m.groups() if g))
        flat = f" {' '.join(phrase)} "
        if len(phrase) < 2 or flat in flat_was:
            continue
        having = [original for original, w in inputs if flat in f" {' '.join(w)} "]
        if len(having) == 1:
            return having[0]
    return None

"""A guard against runaway repetition. A small model can fall into a loop and repeat a phrase until
max_tokens runs out ("no enumeration; no enumeration; no enumeration; ..."); what the engineer and the
critics write is cut where the loop starts, so a prompt, a note or a review says each thing once."""

from __future__ import annotations

import re
import string

_WORD = re.compile(r"\S+")
_TRAILING = " \t\n,;:-–—"

UNIT_WORDS = 12  # the longest phrase whose back-to-back repeats count as a loop
PHRASE_WORDS = 8  # a phrase this long, met a third time anywhere, is a loop (natural text repeats shorter ones)


def cut_loop(text: str) -> str:
    """The text up to where it starts looping; unchanged when it does not loop.

    A loop is a phrase repeated three times back to back (cut after its first time), or a phrase of
    PHRASE_WORDS words met a third time anywhere (cut before its third time).
    """
    spans = [(m.start(), m.group().lower().strip(string.punctuation + "“”‘’—–…") or m.group()) for m in _WORD.finditer(text)]
    words = [w for _, w in spans]
    cut = min(_back_to_back(words), _third_time(words))
    if cut >= len(words):
        return text
    return text[: spans[cut][0]].rstrip(_TRAILING)


def _back_to_back(words: list[str]) -> int:
    """Where the first phrase repeated three times in a row ends its first time (len(words) when none)."""
    n = len(words)
    for i in range(n):
        for size in range(1, UNIT_WORDS + 1):
            if i + 3 * size > n:
                break
            unit = words[i : i + size]
            if len("".join(unit)) >= 3 and unit == words[i + size : i + 2 * size] == words[i + 2 * size : i + 3 * size]:
                return i + size
    return n


def _third_time(words: list[str]) -> int:
    """Where a phrase of PHRASE_WORDS words starts for the third time (len(words) when none does)."""
    seen: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - PHRASE_WORDS + 1):
        key = tuple(words[i : i + PHRASE_WORDS])
        seen[key] = seen.get(key, 0) + 1
        if seen[key] == 3:
            return i
    return len(words)

"""The words run records are made of: their field names and the values of their Literal fields. Masking a
secret never changes one of them where it stands whole (secrets.scrub_data's `keep`), so a short key that
happens to be such a word ("mean") cannot break summary.json or state.json."""

from __future__ import annotations

import typing
from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from . import candidate, results, state, transcript, usage


@lru_cache(maxsize=1)
def record_words() -> frozenset[str]:
    """The words redraft's records are made of: their field names and the values of their Literal fields. A
    record stays valid only with them as they are, so a secret that happens to be one ("mean") is not masked
    where it stands as a whole key or value (it still is inside any other text)."""
    words: set[str] = set()
    seen: set[int] = set()

    def walk(tp: Any) -> None:
        if id(tp) in seen:
            return
        seen.add(id(tp))
        if typing.get_origin(tp) is typing.Literal:
            words.update(a for a in typing.get_args(tp) if isinstance(a, str))
            return
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            for name, field in tp.model_fields.items():
                words.update(w for w in (name, field.alias) if w)  # a key of the record ("round", "mean")
                walk(field.annotation)
            return
        for arg in typing.get_args(tp):
            walk(arg)

    for module in (candidate, results, state, transcript, usage):
        for value in vars(module).values():
            walk(value)
    return frozenset(words)

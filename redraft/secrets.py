"""Keep API keys out of everything redraft writes or prints."""

from __future__ import annotations

_SECRETS: set[str] = set()
MASK = "***"


def register(secret: str | None) -> None:
    """Remember a secret so that scrub() removes it wherever it appears."""
    if secret and len(secret) >= 6:
        _SECRETS.add(secret)


def scrub(text: str) -> str:
    """The text with every registered secret masked."""
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, MASK)
    return text

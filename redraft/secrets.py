"""Keep secrets out of everything redraft writes or prints.

A secret is every api_key, every value a `${VAR}` expanded to, and the credentials inside a URL
(its user:password@ and the values of query parameters with credential-like names). Secrets are
masked whatever their length: a short key is still a key. One shorter than SHORT characters is masked
where it stands as a token of its own (not next to a letter or digit) or right after "=", ":" or "@"
(a query value, a password, a header, however the text goes on), so a key "k" masks itself in
"Bearer k" and "api-key=kchat/completions" but leaves "Check" alone. Each secret is masked in its base64
form too (user:password as a Basic Authorization header carries it). A stand-in key ("none", "EMPTY",
"not-needed") is no secret, and a key or value of a run record that is, whole, one of the records' own
words (a field name, a Literal value such as the selection rule "mean") is left as it is.
"""

from __future__ import annotations

import base64
import re
from typing import Any, Collection
from urllib.parse import unquote, urlsplit, urlunsplit

_SECRETS: set[str] = set()
MASK = "***"
SHORT = 8
# Query parameters whose values are credentials: api-key, access_token, sig, X-Amz-Signature, auth, password...
CREDENTIAL_NAME = re.compile(r"key|token|secret|pass|pwd|sig|auth|cred|session", re.I)
_PLACEHOLDER = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
# What a local server's config writes where it needs no key: not secrets, and masking them would mask ordinary words.
NOT_SECRETS = frozenset({"none", "null", "empty", "not-needed", "not_needed", "sk-no-key-required", "no-key",
                         "nokey", "dummy", "x", "-"})


def is_placeholder(secret: str) -> bool:
    """Whether a key is a stand-in that local servers take ("none", "EMPTY", "not-needed", ...), not a secret."""
    return secret.strip().lower() in NOT_SECRETS


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _add(secret: str) -> None:
    if secret and not is_placeholder(secret):
        _SECRETS.add(secret)


def register(secret: str | None) -> None:
    """Remember a secret so that scrub() removes it wherever it appears: as written, percent-decoded (as in a
    URL) and base64-encoded (as in a Basic Authorization header). A placeholder key ("none", "EMPTY", ...) is
    not a secret and is not registered."""
    if not secret or is_placeholder(secret):
        return
    for form in {secret, unquote(secret)}:
        _add(form)
        _add(_b64(form))
        _add(_b64(form).rstrip("="))


def register_url(url: str) -> None:
    """Register the credentials of a URL (see url_secrets), and user:password as HTTP Basic auth sends it."""
    for secret in url_secrets(url):
        register(secret)
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return
    if user is not None and password is not None:
        for pair in {f"{user}:{password}", f"{unquote(user)}:{unquote(password)}"}:
            if pair != ":":
                _add(_b64(pair))
                _add(_b64(pair).rstrip("="))


def scrub(text: str) -> str:
    """The text with every registered secret masked (the longest first, so none is left half masked)."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret not in text:
            continue
        if len(secret) >= SHORT:
            text = text.replace(secret, MASK)
        else:
            s = re.escape(secret)
            text = re.sub(rf"(?<=[=:@]){s}|(?<![A-Za-z0-9]){s}(?![A-Za-z0-9])", MASK, text)
    return text


def scrub_data(data: Any, keep: Collection[str] = ()) -> Any:
    """JSON-like data with every string (keys included) scrubbed; numbers and structure are left alone,
    so the data stays what it was, however short a secret is. A key or value that is, whole, one of `keep`
    (a typed record's words: its field names and Literal values, such as the selection rule "mean") is
    never masked, so no record is broken by a secret that happens to be such a word."""
    if not _SECRETS:
        return data
    if isinstance(data, str):
        return data if data in keep else scrub(data)
    if isinstance(data, dict):
        return {scrub_data(k, keep) if isinstance(k, str) else k: scrub_data(v, keep) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [scrub_data(v, keep) for v in data]
    return data


def url_secrets(url: str) -> list[str]:
    """The credentials in a URL: user and password of its user:password@, and the values of its
    query parameters with credential-like names."""
    try:
        parts = urlsplit(url)
        found = [x for x in (parts.username, parts.password) if x]
    except ValueError:
        return []
    for raw in parts.query.split("&"):
        name, _, value = raw.partition("=")
        if value and CREDENTIAL_NAME.search(name):
            found.append(value)  # as written; register() adds the decoded form
    return found


def redact_url(url: str) -> str:
    """A URL as a file may show it: each credential masked, unless it is a `${VAR}` placeholder."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK

    def shown(value: str) -> str:
        return value if _PLACEHOLDER.fullmatch(value) else MASK

    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, sep, password = userinfo.partition(":")
        netloc = f"{shown(user)}{sep}{shown(password) if sep else ''}@{host}"
    query = "&".join(
        f"{k}={shown(v)}" if v and CREDENTIAL_NAME.search(k) else raw
        for raw in parts.query.split("&") if raw
        for k, _, v in [raw.partition("=")]
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))

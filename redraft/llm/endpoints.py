"""Model configuration in AutoGen's OAI_CONFIG_LIST format, tags per role, and the clients behind them."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from autogen_core.models import ChatCompletionClient, ModelFamily
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, StrictBool, ValidationError, field_validator

from ..config import allowed_keys, read_text, validation_to_config_error
from ..errors import ConfigError
from ..secrets import redact_url, register, register_url
from ..records import ModelDescription
from .embedded import EmbeddedServer, check_gguf, default_gguf

EMBEDDED = "embedded"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ModelInfo(BaseModel):
    """What an endpoint's model can do, in AutoGen's words; a key left out gets redraft's generic default."""

    model_config = ConfigDict(extra="forbid")

    vision: StrictBool | None = None
    function_calling: StrictBool | None = None
    json_output: StrictBool | None = None
    structured_output: StrictBool | None = None  # the endpoint supports response_format json_schema
    multiple_system_messages: StrictBool | None = None
    family: str | None = Field(default=None, min_length=1)


class ModelEntry(BaseModel):
    """One entry of OAI_CONFIG_LIST."""

    model_config = ConfigDict(extra="forbid")

    model: str
    api_key: SecretStr | None = None
    base_url: str | None = None
    api_type: Literal["openai", "azure"] = "openai"
    api_version: str | None = None
    azure_deployment: str | None = None
    tags: list[str] = Field(default_factory=list)
    price: tuple[float, float] | None = None  # USD per 1k prompt tokens, per 1k completion tokens
    model_info: ModelInfo | None = None
    timeout: float = Field(default=120.0, gt=0, le=3600)  # seconds per call
    max_retries: int = Field(default=4, ge=0, le=20)  # retries on rate limits, server errors, timeouts
    retry_base_seconds: float = Field(default=1.0, ge=0, le=60)  # backoff: base * 2^attempt, with jitter
    max_concurrency: int = Field(default=4, ge=1, le=64)  # parallel calls to this endpoint
    _base_url_setting: str | None = PrivateAttr(default=None)  # base_url as written, ${VAR} placeholders unexpanded
    _api_key_env: str | None = PrivateAttr(default=None)  # NAME when api_key is written as "${NAME}" alone

    @field_validator("api_key", mode="before")
    @classmethod
    def _key_alone(cls, v: Any) -> Any:
        return _clean_key(v, "api_key") if isinstance(v, str) else v

    @field_validator("base_url", mode="before")
    @classmethod
    def _a_url(cls, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        register_url(v.strip())  # before anything can quote it
        try:
            parts = urlsplit(v.strip())
            a_url = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:  # e.g. a port that is no number
            a_url = False
        if not a_url:
            raise ValueError(f"{redact_url(v.strip())!r} is not a URL; expected http:// or https:// and a host, "
                             "e.g. http://localhost:11434/v1")
        return v.strip()

    @field_validator("price", mode="before")
    @classmethod
    def _price_pair(cls, v: Any) -> Any:
        if isinstance(v, (int, float)):
            return (v, v)
        return v

    def describe(self) -> ModelDescription:
        """What a summary may show about this model: never the key."""
        return ModelDescription(model=self.model, api_type=self.api_type,
                                base_url=redact_url(self._base_url_setting or self.base_url) if self.base_url else None,
                                tags=list(self.tags) if self.tags else None,
                                api_key_env=self._api_key_env if self.api_key is not None else key_variable(self))


@dataclass(frozen=True)
class Endpoint:
    """What the caller needs to know about the model behind a tag (never its key)."""

    id: str  # identifies the model and endpoint: the cache key and the concurrency pool use it
    description: ModelDescription
    price: tuple[float, float] | None = None
    structured_output: bool = False
    max_concurrency: int = 4
    timeout: float = 120.0
    max_retries: int = 4
    retry_base_seconds: float = 1.0

    def cost(self, prompt_tokens: float, completion_tokens: float) -> float | None:
        """US dollars for these tokens at the configured price per 1,000 (None when no price is set)."""
        if self.price is None:
            return None
        return (prompt_tokens * self.price[0] + completion_tokens * self.price[1]) / 1000


class ModelProvider(Protocol):
    """Where the round gets a chat client for a model tag."""

    def known_tags(self) -> list[str]: ...

    def has_tag(self, tag: str) -> bool: ...

    def endpoint(self, tag: str) -> Endpoint: ...

    def client(self, tag: str) -> ChatCompletionClient: ...

    async def close(self) -> None: ...


def _clean_key(key: str, where: str) -> str:
    """A key without the spaces and line breaks copying it often adds; one with a space or control character
    inside is refused (HTTP headers cannot carry it), without ever showing the key."""
    key = key.strip()
    if not key:
        raise ValueError(f"{where} is empty; expected the API key")
    if any(ch.isspace() or not ch.isprintable() for ch in key):
        raise ValueError(f"{where} has a space, line break or control character inside; expected the API key alone")
    return key


def key_variable(e: ModelEntry) -> str | None:
    """The environment variable an entry without api_key takes its key from: the first one set, if any."""
    names = ("AZURE_OPENAI_API_KEY", "OPENAI_API_KEY") if e.api_type == "azure" else ("OPENAI_API_KEY",)
    return next((name for name in names if os.environ.get(name)), None)


def api_key(e: ModelEntry, source: str) -> str | None:
    """The key a client sends for this entry: its api_key, else the environment's; None for a local server
    that needs none. An OpenAI or Azure endpoint without one is a ConfigError naming `source`."""
    if e.api_key is not None:
        return e.api_key.get_secret_value()
    var = key_variable(e)
    if var is not None:
        try:
            return _clean_key(os.environ[var], f"the environment variable {var}")
        except ValueError as exc:
            raise ConfigError(source, f"{exc} (used because the entry has no api_key)", key="api_key") from None
    if e.base_url is None or e.api_type == "azure":
        env = "AZURE_OPENAI_API_KEY" if e.api_type == "azure" else "OPENAI_API_KEY"
        raise ConfigError(source, f"model '{e.model}' needs an API key: set api_key in its entry (e.g. \"${{{env}}}\") "
                          f"or {env} in the environment or .env", key="api_key")
    return None  # local servers (Ollama, vLLM, llama.cpp) usually ignore the key


def _expand(value: str, source: str, key: str) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise ConfigError(source, f"environment variable {name} is not set (add it to .env or export it)", key=key)
        register(os.environ[name])  # whatever a ${VAR} holds is a secret, however short
        return os.environ[name]

    return _ENV_REF.sub(sub, value)


def parse_config_list(text: str, source: str) -> list[ModelEntry]:
    """Parse OAI_CONFIG_LIST JSON text into entries; errors name the source and entry."""
    def one_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        twice = next((k for k in keys if keys.count(k) > 1), None)
        if twice is not None:  # json keeps the last silently, as YAML would
            raise ConfigError(source, f"the key '{twice}' is given twice in one entry; give each key once")
        return dict(pairs)

    try:
        data = json.loads(text, object_pairs_hook=one_each)
    except json.JSONDecodeError as exc:
        raise ConfigError(source, f"invalid JSON: {exc.msg}", line=exc.lineno) from None
    except RecursionError:
        raise ConfigError(source, "the JSON is nested too deeply; expected a list of flat model entries") from None
    if not isinstance(data, list) or not data:
        raise ConfigError(source, "expected a non-empty JSON list of model entries like "
                          '[{"model": "gpt-4o-mini", "api_key": "${OPENAI_API_KEY}", "tags": ["default"]}]')
    entries = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise ConfigError(source, "expected an object", key=f"[{i}]")
        item = dict(item)
        written_url = item.get("base_url")
        written_key = item.get("api_key")
        for k in ("api_key", "base_url"):
            if isinstance(item.get(k), str):
                item[k] = _expand(item[k], source, f"[{i}].{k}")
        if isinstance(item.get("api_key"), str):
            register(item["api_key"].strip())  # before validation, so no message can show it
        if isinstance(item.get("base_url"), str):
            register_url(item["base_url"].strip())
        try:
            entry = ModelEntry.model_validate(item)
        except ValidationError as exc:
            err = validation_to_config_error(exc, source, None, allowed_keys(ModelEntry))
            raise ConfigError(source, err.detail, key=f"[{i}].{err.key}") from None
        if entry.api_key is not None:
            register(entry.api_key.get_secret_value())
        if entry.base_url is not None:
            register_url(entry.base_url)
            entry._base_url_setting = written_url if isinstance(written_url, str) else None
        # The variable's name only, so an export can name it: "${NAME}" and nothing else (a key built from
        # several parts, or written out, has no one variable to name).
        whole = _ENV_REF.fullmatch(written_key.strip()) if isinstance(written_key, str) else None
        entry._api_key_env = whole.group(1) if whole else None
        if entry.api_type == "azure" and not (entry.base_url and entry.api_version):
            raise ConfigError(source, "an azure entry needs base_url (the Azure endpoint) and api_version", key=f"[{i}]")
        try:
            api_key(entry, source)
        except ConfigError as exc:
            raise ConfigError(source, exc.detail, key=f"[{i}].{exc.key}") from None
        entries.append(entry)
    return entries


def find_config(explicit: str | None) -> tuple[list[ModelEntry], str] | None:
    """--config PATH, else $OAI_CONFIG_LIST (a path or the JSON itself), else ./OAI_CONFIG_LIST, else None."""
    if explicit:
        return _read_config(Path(explicit), "--config")
    env = os.environ.get("OAI_CONFIG_LIST")
    if env:
        if env.lstrip().startswith("["):
            return parse_config_list(env, "$OAI_CONFIG_LIST"), "$OAI_CONFIG_LIST"
        return _read_config(Path(env), "$OAI_CONFIG_LIST")
    local = Path("OAI_CONFIG_LIST")
    if local.exists():
        return _read_config(local, "./OAI_CONFIG_LIST")
    return None


def _read_config(path: Path, given_by: str) -> tuple[list[ModelEntry], str]:
    if not path.exists():
        raise ConfigError(str(path), f"model config file not found ({given_by})")
    holding = f"a JSON list of models ({given_by})"
    return parse_config_list(read_text(path, holding=holding), str(path)), str(path)


def _default_model_info(structured: bool) -> dict[str, Any]:
    return {
        "vision": False,
        "function_calling": False,
        "json_output": True,
        "structured_output": structured,
        "family": ModelFamily.UNKNOWN,
    }


class ConfiguredModels:
    """Models from an OAI_CONFIG_LIST: a tag picks the entries tagged with it (or named so)."""

    def __init__(self, entries: list[ModelEntry], source: str):
        self.entries = entries
        self.source = source
        self._clients: dict[int, ChatCompletionClient] = {}

    def known_tags(self) -> list[str]:
        tags = ["default"]
        for e in self.entries:
            for t in [*e.tags, e.model]:
                if t not in tags:
                    tags.append(t)
        return tags

    def _index(self, tag: str) -> int:
        for i, e in enumerate(self.entries):
            if tag in e.tags:
                return i
        for i, e in enumerate(self.entries):
            if tag == e.model:
                return i
        if tag == "default":
            return 0
        raise KeyError(tag)

    def has_tag(self, tag: str) -> bool:
        try:
            self._index(tag)
        except KeyError:
            return False
        return True

    def entry(self, tag: str) -> ModelEntry:
        """The entry a tag resolves to."""
        return self.entries[self._index(tag)]

    def client(self, tag: str) -> ChatCompletionClient:
        i = self._index(tag)
        if i not in self._clients:
            self._clients[i] = _make_client(self.entries[i], self.source)
        return self._clients[i]

    def endpoint(self, tag: str) -> Endpoint:
        e = self.entry(tag)
        said = e.model_info.structured_output if e.model_info is not None else None
        # OpenAI's own recent models support JSON-schema output; others say so in model_info.
        structured = said if said is not None else e.base_url is None and e.api_type == "openai"
        return Endpoint(
            id=f"{e.api_type}|{e.base_url or 'openai'}|{e.azure_deployment or ''}|{e.model}",
            description=e.describe(), price=e.price, structured_output=structured,
            max_concurrency=e.max_concurrency, timeout=e.timeout, max_retries=e.max_retries,
            retry_base_seconds=e.retry_base_seconds,
        )

    async def close(self) -> None:
        for c in self._clients.values():
            await c.close()
        self._clients.clear()


def _make_client(e: ModelEntry, source: str) -> ChatCompletionClient:
    from autogen_ext.models.openai import AzureOpenAIChatCompletionClient, OpenAIChatCompletionClient

    # Retries are redraft's own (backoff with jitter, Retry-After, clean stop): the client makes none.
    kwargs: dict[str, Any] = {"model": e.model, "timeout": e.timeout, "max_retries": 0}
    key = api_key(e, source)
    register(key)
    kwargs["api_key"] = key or "not-needed"
    if e.model_info is not None:
        kwargs["model_info"] = {**_default_model_info(False), **e.model_info.model_dump(exclude_none=True)}
    if e.api_type == "azure":
        endpoint, query = _split_query(e.base_url or "")
        if query:
            kwargs["default_query"] = query
        kwargs.update(azure_endpoint=endpoint, api_version=e.api_version, azure_deployment=e.azure_deployment or e.model)
        return AzureOpenAIChatCompletionClient(**kwargs)
    if e.base_url:
        kwargs["base_url"], query = _split_query(e.base_url)
        if query:
            kwargs["default_query"] = query
    if "model_info" not in kwargs:
        try:
            return OpenAIChatCompletionClient(**kwargs)
        except ValueError:
            # Not a model name AutoGen knows (Ollama, vLLM, llama.cpp): describe it generically.
            kwargs["model_info"] = _default_model_info(False)
    return OpenAIChatCompletionClient(**kwargs)


def _split_query(url: str) -> tuple[str, dict[str, str]]:
    """A base_url without its query string, and the query's parameters: the client appends each request's
    path to the base URL and sends the parameters with every request (a query left inside the base URL
    would end up before the path, as in ".../v1/?api-key=Xchat/completions")."""
    parts = urlsplit(url)
    if not parts.query:
        return url, {}
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", parts.fragment)), dict(
        parse_qsl(parts.query, keep_blank_values=True))


class EmbeddedModels:
    """No configuration: every tag is served by the embedded llama.cpp model, started on first use."""

    def __init__(self, gguf: Path | None = None, *, parallel: int = 4, log_file: Path | None = None):
        self.gguf = check_gguf(gguf) if gguf is not None else default_gguf()
        self.server = EmbeddedServer(self.gguf, parallel=parallel, log_file=log_file)
        self._client: ChatCompletionClient | None = None

    def known_tags(self) -> list[str]:
        return ["default", "(any tag: all roles use the embedded model)"]

    def has_tag(self, tag: str) -> bool:
        return True

    def client(self, tag: str) -> ChatCompletionClient:
        if self._client is None:
            from autogen_ext.models.openai import OpenAIChatCompletionClient

            base_url = self.server.base_url or self.server.start()
            self._client = OpenAIChatCompletionClient(
                model=self.server.model_name,
                base_url=base_url,
                api_key="not-needed",
                model_info=_default_model_info(True),
                timeout=600,
                max_retries=0,
            )
        return self._client

    def endpoint(self, tag: str) -> Endpoint:
        return Endpoint(
            id=f"{EMBEDDED}|{self.gguf.name}|{self.gguf.stat().st_size}",
            description=ModelDescription(model=self.server.model_name, api_type=EMBEDDED, gguf=str(self.gguf)),
            structured_output=True, max_concurrency=self.server.parallel, timeout=600, max_retries=2,
            retry_base_seconds=0.5,
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        self.server.stop()


def open_models(config: str | None, gguf: str | None, *, parallel: int = 4, log_file: Path | None = None) -> ModelProvider:
    """The models for a run: a configured list when one is found, else the embedded model."""
    found = find_config(config)
    if found is not None:
        if gguf:
            raise ConfigError("--gguf", f"--gguf serves the embedded model, but a model config was found ({found[1]}); use one or the other")
        return ConfiguredModels(*found)
    return EmbeddedModels(Path(gguf) if gguf else None, parallel=parallel, log_file=log_file)

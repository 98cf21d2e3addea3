"""Every model call goes through here: usage is metered, endpoint failures become clear errors,
and structured replies are parsed with one repair retry."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, TypeVar

import openai
from autogen_core.models import AssistantMessage, CreateResult, LLMMessage, SystemMessage, UserMessage
from pydantic import BaseModel, ValidationError

from .errors import EndpointError
from .models import ModelProvider

T = TypeVar("T", bound=BaseModel)


class Usage(BaseModel):
    """Calls and tokens, summed."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0

    def add(self, other: "Usage") -> None:
        """Accumulate another usage into this one."""
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost_usd += other.cost_usd
        self.seconds += other.seconds


class Ledger(BaseModel):
    """Usage per role and per round."""

    by_role: dict[str, Usage] = {}
    by_round: dict[int, Usage] = {}

    def record(self, role: str, round_no: int, usage: Usage) -> None:
        """Add one call's usage."""
        self.by_role.setdefault(role, Usage()).add(usage)
        self.by_round.setdefault(round_no, Usage()).add(usage)

    @property
    def total(self) -> Usage:
        """Everything, summed."""
        out = Usage()
        for u in self.by_role.values():
            out.add(u)
        return out


@dataclass
class Parsed(Generic[T]):
    """A structured reply: the value, or None with the reason, and every raw text seen."""

    value: T | None
    raw: list[str] = field(default_factory=list)
    error: str | None = None


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def extract_json(text: str) -> Any:
    """The first JSON object in a reply, tolerating code fences and chatter around it."""
    text = text.strip()
    m = _FENCE.search(text)
    if m:
        text = m.group(1).strip()
    start = text.find("{")
    if start < 0:
        raise ValueError("no JSON object found in the reply")
    obj, _ = json.JSONDecoder().raw_decode(text[start:])
    return obj


class Caller:
    """Calls models for the agents, metering usage per role and round."""

    def __init__(self, models: ModelProvider, ledger: Ledger | None = None):
        self.models = models
        self.ledger = ledger or Ledger()
        self.fatal: BaseException | None = None  # the error that stopped the run, kept for the CLI

    async def complete(
        self,
        *,
        role: str,
        tag: str,
        round_no: int,
        messages: list[LLMMessage],
        temperature: float,
        max_tokens: int,
        seed: int | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> CreateResult:
        """One chat completion; endpoint failures (after the client's retries) raise EndpointError."""
        args: dict[str, Any] = {"temperature": temperature, "max_tokens": max_tokens}
        if seed is not None:
            args["seed"] = seed
        if response_format is not None:
            args["response_format"] = response_format
        client = self.models.client(tag)
        started = time.monotonic()
        try:
            result = await client.create(messages, extra_create_args=args)
        except (openai.APIConnectionError, openai.APIStatusError, openai.APITimeoutError) as exc:
            err = EndpointError(_describe_failure(self.models.describe(tag), tag, exc))
            self.fatal = err
            raise err from None
        usage = Usage(
            calls=1,
            prompt_tokens=result.usage.prompt_tokens,
            completion_tokens=result.usage.completion_tokens,
            seconds=time.monotonic() - started,
        )
        price = self.models.price(tag)
        if price is not None:
            usage.cost_usd = (usage.prompt_tokens * price[0] + usage.completion_tokens * price[1]) / 1000
        self.ledger.record(role, round_no, usage)
        return result

    async def complete_json(
        self,
        model: type[T],
        schema: dict[str, Any],
        *,
        role: str,
        tag: str,
        round_no: int,
        system: str,
        user: str,
        temperature: float,
        max_tokens: int,
        seed: int | None = None,
        check: Callable[[T], None] | None = None,
    ) -> Parsed[T]:
        """Ask for JSON matching `schema`; on junk, one repair retry; then give up without raising."""
        structured = self.models.structured_output(tag)
        fmt = {"type": "json_schema", "json_schema": {"name": model.__name__.lower(), "schema": schema, "strict": True}}
        if not structured:
            user = f"{user}\n\nReply with only a JSON object matching this JSON schema:\n{json.dumps(schema)}"
        messages: list[LLMMessage] = [SystemMessage(content=system), UserMessage(content=user, source="user")]
        parsed: Parsed[T] = Parsed(value=None)
        for attempt in range(2):
            result = await self.complete(
                role=role, tag=tag, round_no=round_no, messages=messages, temperature=temperature,
                max_tokens=max_tokens, seed=None if seed is None else seed + attempt,
                response_format=fmt if structured else None,
            )
            text = result.content if isinstance(result.content, str) else json.dumps(result.content, default=str)
            parsed.raw.append(text)
            try:
                value = model.model_validate(extract_json(text))
                if check is not None:
                    check(value)
                parsed.value, parsed.error = value, None
                return parsed
            except (ValueError, ValidationError) as exc:
                parsed.error = _short_error(exc)
            messages = [
                *messages,
                AssistantMessage(content=text, source=role),
                UserMessage(
                    content=f"That reply could not be used: {parsed.error}. "
                    "Reply again with only the JSON object, complete and valid.",
                    source="user",
                ),
            ]
        return parsed


def _short_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        e = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in e["loc"]) or "reply"
        return f"{where}: {e['msg']}"
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON ({exc.msg} at character {exc.pos})"
    return str(exc)


def _describe_failure(desc: dict[str, Any], tag: str, exc: Exception) -> str:
    where = desc.get("base_url") or ("the embedded model" if desc.get("api_type") == "embedded" else "api.openai.com")
    what = f"model '{desc.get('model')}' (tag '{tag}') at {where}"
    if isinstance(exc, openai.APITimeoutError):
        return f"{what} timed out; check that the server is up, or raise 'timeout' in OAI_CONFIG_LIST"
    if isinstance(exc, openai.APIConnectionError):
        return f"cannot reach {what}: connection failed. Check base_url in OAI_CONFIG_LIST and that the server is running"
    if isinstance(exc, openai.AuthenticationError):
        return f"{what} refused the API key (401). Check api_key in OAI_CONFIG_LIST or .env"
    if isinstance(exc, openai.NotFoundError):
        return f"{what} answered 404: the model name or base_url is wrong"
    if isinstance(exc, openai.APIStatusError):
        return f"{what} answered HTTP {exc.status_code} after retries: {exc.message[:200]}"
    return f"{what} failed: {exc}"

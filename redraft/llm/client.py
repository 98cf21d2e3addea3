"""Every model call goes through here: usage is metered, endpoint failures become clear errors,
and structured replies are parsed with one repair retry."""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Generic, TypeVar

import openai
from autogen_core import CancellationToken
from autogen_core.models import AssistantMessage, CreateResult, LLMMessage, RequestUsage, SystemMessage, UserMessage
from pydantic import BaseModel, ValidationError

from ..config import Budget
from ..errors import BudgetExceeded, EndpointError
from ..records import Ledger, ModelDescription, Usage
from ..secrets import scrub
from ..terminal import say
from .cache import CallCache
from .endpoints import Endpoint, ModelProvider

T = TypeVar("T", bound=BaseModel)

MAX_REPLY_CHARS = 200_000  # a reply longer than this is cut (and says so): a runaway server cannot fill the disk
MAX_TOKEN_COUNT = 100_000_000  # a usage count above this is no real count
_MISMATCH = "Resolved model mismatch: "
_noted: set[str] = set()  # the once-per-process notes already printed


def _note(text: str) -> None:
    """One line for the user on stderr (scrubbed, control characters shown)."""
    say(f"redraft: {text}", file=sys.stderr)


def _quiet_client_warnings() -> None:
    """AutoGen's OpenAI client warns, with a library path and once per call site, when the server answers
    with another model name (llama.cpp and vLLM do), and pydantic warns when a usage count is no int.
    The first becomes one plain note per process; the second is covered by the caller's own check."""
    warnings.filterwarnings("ignore", message=r"(?s)Pydantic serializer warnings:.*field_name='(prompt|completion)_tokens'",
                            category=UserWarning)
    warnings.filterwarnings("always", message=_MISMATCH, category=UserWarning)  # reaches the hook; it says it once
    shown = warnings.showwarning
    if getattr(shown, "_redraft_notes", False):
        return

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
             line: str | None = None) -> None:
        text = str(message)
        if not text.startswith(_MISMATCH):
            shown(message, category, filename, lineno, file, line)
            return
        if "mismatch" not in _noted:
            _noted.add("mismatch")
            m = re.match(r"Resolved model mismatch: (.*?) != (.*?)\. Model mapping", text)
            asked, got = (m.group(1), m.group(2)) if m else ("?", "?")
            _note(f"note: the server answers as model '{got}' where '{asked}' was asked for; going on "
                  "(local servers such as llama.cpp and vLLM do this)")

    show._redraft_notes = True  # type: ignore[attr-defined]
    warnings.showwarning = show


@dataclass(frozen=True)
class Sampling:
    """Who calls and how: the role (metered in the ledger), its model tag and its sampling settings."""

    role: str
    tag: str
    temperature: float
    max_tokens: int


class Objection(ValueError):
    """What a reply's check says against a well-formed reply that still cannot be used ("it pasted the input …
    into the instructions"): the model is told so and asked once more, as a colleague would be."""


@dataclass(frozen=True)
class JsonReply(Generic[T]):
    """The structured reply asked for: its model, its JSON schema, and an optional extra check (raising
    Objection, or ValueError, with the reason)."""

    model: type[T]
    schema: dict[str, Any]
    check: Callable[[T], None] | None = None


@dataclass
class Parsed(Generic[T]):
    """A structured reply: the value, or None with the reason, and every raw text seen."""

    value: T | None
    raw: list[str] = field(default_factory=list)
    error: str | None = None
    objections: list[str] = field(default_factory=list)  # what each reply sent back with an Objection was told

    @property
    def why_not(self) -> str | None:
        """Why no reply could be used: both reasons when one was sent back and the second failed too."""
        if len(self.objections) == 2:
            again = "did the same" if self.objections[1] == self.objections[0] else self.objections[1]
            return f"{self.objections[0]}; sent back with the reason, its second reply {again}"
        return self.error

    @property
    def sent_back(self) -> str:
        """For a usable reply that came second: "(its second reply: the first was sent back, <reason>)", else ""."""
        return f"(its second reply: the first was sent back, {self.objections[0]})" if self.objections else ""


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


RETRYABLE = (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError, openai.APIConnectionError,
             openai.APIResponseValidationError, asyncio.TimeoutError)


class Caller:
    """Calls models for the agents: bounded concurrency per endpoint, retries with backoff,
    a content-addressed cache, budget caps, and usage metered per role and round."""

    def __init__(self, models: ModelProvider, ledger: Ledger | None = None, *, cache: CallCache | None = None,
                 budget: Budget | None = None, cancel: CancellationToken | None = None):
        self.models = models
        self.ledger = ledger or Ledger()
        self.cache = cache
        self.budget = budget or Budget()
        # The token of the work this caller serves: cancelling it (Ctrl-C) aborts the calls in flight.
        self.cancel_token = cancel or CancellationToken()
        self._pools: dict[str, asyncio.Semaphore] = {}
        self._reserved_tokens = 0
        # Told of every change to the ledger, at once: the run folder keeps it, so a killed process loses none.
        self.on_spend: Callable[[Ledger], None] | None = None
        self.in_flight = 0  # calls started and not finished yet (waiting for a slot included)
        self.listener: Callable[[], None] | None = None  # told when a call starts or ends (the progress line)
        self._impossible_usage_said = False  # the warning about a server's impossible token count, once per run
        _quiet_client_warnings()

    def _pool(self, ep: Endpoint) -> asyncio.Semaphore:
        if ep.id not in self._pools:
            self._pools[ep.id] = asyncio.Semaphore(ep.max_concurrency)
        return self._pools[ep.id]

    def _record(self, role: str, round_no: int, usage: Usage) -> None:
        self.ledger.record(role, round_no, usage)
        if self.on_spend is not None:
            self.on_spend(self.ledger)

    def _reserve(self, prompt_estimate: int, max_tokens: int) -> None:
        """Refuse a call that could take the run past a token or dollar cap (checked before the call, so never exceeded)."""
        spent = self.ledger.total
        b = self.budget
        tokens = spent.network_tokens + self._reserved_tokens + prompt_estimate + max_tokens
        if b.max_tokens is not None and tokens > b.max_tokens:
            raise BudgetExceeded(f"max_tokens {b.max_tokens} reached")
        if b.max_usd is not None and spent.cost_usd >= b.max_usd:
            raise BudgetExceeded(f"max_usd {b.max_usd} reached")
        self._reserved_tokens += prompt_estimate + max_tokens

    def _send(self, role: str, round_no: int) -> None:
        """Count one request as it is sent, retries included, refusing the one that would pass max_calls.

        Counted before it leaves, so one cancelled or cut off by a killed process is counted too; the
        check and the count run with no await between them, so concurrent calls cannot both pass it.
        """
        cap = self.budget.max_calls
        if cap is not None and self.ledger.total.requests + 1 > cap:
            raise BudgetExceeded(f"max_calls {cap} reached")
        self._record(role, round_no, Usage(requests=1))

    async def complete(self, sampling: Sampling, messages: list[LLMMessage], *, round_no: int, seed: int | None = None,
                       response_format: dict[str, Any] | None = None) -> CreateResult:
        """One chat completion: from the cache, or from the endpoint with retries.

        Raises EndpointError when retries are exhausted and BudgetExceeded at a cap.
        """
        self.in_flight += 1
        self._changed()
        try:
            return await self._complete(sampling, messages, round_no, seed, response_format)
        finally:
            self.in_flight -= 1
            self._changed()

    def _changed(self) -> None:
        if self.listener is not None:
            self.listener()

    async def _complete(self, sampling: Sampling, messages: list[LLMMessage], round_no: int, seed: int | None,
                        response_format: dict[str, Any] | None) -> CreateResult:
        args: dict[str, Any] = {"temperature": sampling.temperature, "max_tokens": sampling.max_tokens}
        if seed is not None:
            args["seed"] = seed
        if response_format is not None:
            args["response_format"] = response_format
        ep = self.models.endpoint(sampling.tag)
        key = None
        if self.cache is not None:
            key = CallCache.key(ep.id, [m.model_dump(mode="json", exclude={"source"}) for m in messages], args)
            hit = self.cache.get(key)
            if hit is not None:
                result = CreateResult(finish_reason=hit.get("finish_reason", "stop"), content=hit["content"],
                                      usage=RequestUsage(**hit["usage"]), cached=True)
                result = self._checked(ep, sampling, result)  # a cache written before the checks may hold junk
                self._record(sampling.role, round_no, Usage(calls=1, cache_hits=1, prompt_tokens=result.usage.prompt_tokens,
                                                            completion_tokens=result.usage.completion_tokens))
                return result
        estimate = sum(len(str(m.content)) for m in messages) // 4
        self._reserve(estimate, sampling.max_tokens)
        try:
            async with self._pool(ep):
                started = time.monotonic()
                result = await self._with_retries(ep, sampling, round_no, messages, args)
                elapsed = time.monotonic() - started
        finally:
            self._reserved_tokens -= estimate + sampling.max_tokens
        result = self._checked(ep, sampling, result)
        usage = Usage(calls=1, network_calls=1, prompt_tokens=result.usage.prompt_tokens,
                      completion_tokens=result.usage.completion_tokens, seconds=elapsed,
                      network_tokens=result.usage.prompt_tokens + result.usage.completion_tokens)
        usage.cost_usd = ep.cost(usage.prompt_tokens, usage.completion_tokens) or 0.0
        self._record(sampling.role, round_no, usage)
        if self.cache is not None and key is not None and isinstance(result.content, str):
            self.cache.put(key, {"content": result.content, "finish_reason": result.finish_reason,
                                 "usage": {"prompt_tokens": result.usage.prompt_tokens,
                                           "completion_tokens": result.usage.completion_tokens}})
        return result

    def _checked(self, ep: Endpoint, sampling: Sampling, result: CreateResult) -> CreateResult:
        """The reply with impossible token counts taken as unknown (0) and its text cut at MAX_REPLY_CHARS."""
        counts = [self._token_count(ep, result.usage.prompt_tokens), self._token_count(ep, result.usage.completion_tokens)]
        update: dict[str, Any] = {"usage": RequestUsage(prompt_tokens=counts[0], completion_tokens=counts[1])}
        text = result.content
        if isinstance(text, str) and len(text) > MAX_REPLY_CHARS:
            mark = f"\u2026 [reply cut at {MAX_REPLY_CHARS} characters]"
            update["content"] = text[:MAX_REPLY_CHARS - len(mark)] + mark  # no longer than the cap: a replay keeps it
            _note(f"the reply of {sampling.role} from {_where(ep.description)} was {len(text)} characters long; "
                  f"cut at {MAX_REPLY_CHARS}")
        return result.model_copy(update=update)

    def _token_count(self, ep: Endpoint, value: Any) -> int:
        """A usage count as the server reported it, when it is a finite whole number from 0 to MAX_TOKEN_COUNT;
        else 0 (unknown), with one warning per run. A negative count would lower the spend past any cap."""
        if value is None:
            return 0
        if not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) \
                and float(value).is_integer() and 0 <= value <= MAX_TOKEN_COUNT:
            return int(value)
        if not self._impossible_usage_said:
            self._impossible_usage_said = True
            shown = repr(value) if not isinstance(value, float) else str(value)
            _note(f"the server at {_where(ep.description)} reported an impossible token count ({shown[:40]}); "
                  "counted as 0")
        return 0

    async def _with_retries(self, ep: Endpoint, sampling: Sampling, round_no: int, messages: list[LLMMessage],
                            args: dict[str, Any]) -> CreateResult:
        tag = sampling.tag
        client = self.models.client(tag)
        attempt = 0
        while True:
            try:
                self._send(sampling.role, round_no)
                result = await asyncio.wait_for(
                    client.create(messages, extra_create_args=args, cancellation_token=self.cancel_token), ep.timeout)
                if not isinstance(result.content, str):
                    raise ValueError("the reply has no text content")
                return result
            except RETRYABLE as exc:
                if attempt >= ep.max_retries:
                    raise EndpointError(_describe_failure(ep.description, tag, exc, attempt + 1)) from None
                await asyncio.sleep(_backoff(exc, attempt, ep.retry_base_seconds))
                attempt += 1
            except openai.APIStatusError as exc:  # 4xx other than 429: retrying will not help
                raise EndpointError(_describe_failure(ep.description, tag, exc, attempt + 1)) from None
            except (ValueError, LookupError, TypeError, AttributeError) as exc:
                # A body the client could not turn into a completion (malformed JSON, missing fields,
                # an empty choices list).
                if attempt >= ep.max_retries:
                    raise EndpointError(_describe_failure(ep.description, tag, exc, attempt + 1)) from None
                await asyncio.sleep(_backoff(exc, attempt, ep.retry_base_seconds))
                attempt += 1

    async def complete_json(self, reply: JsonReply[T], sampling: Sampling, *, round_no: int, system: str, user: str,
                            seed: int | None = None) -> Parsed[T]:
        """Ask for JSON matching the reply's schema; on junk, one repair retry; then give up without raising."""
        structured = self.models.endpoint(sampling.tag).structured_output
        fmt = {"type": "json_schema", "json_schema": {"name": reply.model.__name__.lower(), "schema": reply.schema, "strict": True}}
        if not structured:
            user = f"{user}\n\nReply with only a JSON object matching this JSON schema:\n{json.dumps(reply.schema)}"
        messages: list[LLMMessage] = [SystemMessage(content=system), UserMessage(content=user, source="user")]
        parsed: Parsed[T] = Parsed(value=None)
        for attempt in range(2):
            result = await self.complete(sampling, messages, round_no=round_no, seed=None if seed is None else seed + attempt,
                                         response_format=fmt if structured else None)
            text = result.content if isinstance(result.content, str) else json.dumps(result.content, default=str)
            parsed.raw.append(text)
            try:
                value = reply.model.model_validate(extract_json(text))
                if reply.check is not None:
                    reply.check(value)
                parsed.value, parsed.error = value, None
                return parsed
            except (ValueError, ValidationError) as exc:
                cause, objected = _short_error(exc), isinstance(exc, Objection)  # what the model is told
                parsed.error = cause
                if objected:
                    parsed.objections.append(cause)
                if result.finish_reason == "length":  # for the user: not junk, the reply ran out of room
                    parsed.error = (f"the reply of {sampling.role} was cut at max_tokens ({sampling.max_tokens}); "
                                    f"raise max_tokens for that role (roles.{sampling.role}.max_tokens in the "
                                    "scenario, or max_tokens in its card)")
            again = (f"That prompt cannot be used: {cause}. Write a new one that avoids this, and reply with only "
                     "the JSON object." if objected else
                     f"That reply could not be used: {cause}. Reply again with only the JSON object, complete and valid.")
            messages = [*messages, AssistantMessage(content=text, source=sampling.role),
                        UserMessage(content=again, source="user")]
        return parsed


def _short_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        e = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in e["loc"]) or "reply"
        return f"{where}: {e['msg']}"
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON ({exc.msg} at character {exc.pos})"
    return str(exc)


def _backoff(exc: BaseException, attempt: int, base: float) -> float:
    """Seconds to wait: the server's Retry-After when it gives one, else exponential with full jitter."""
    if isinstance(exc, openai.APIStatusError):
        value = exc.response.headers.get("retry-after")
        if value:
            try:
                return min(max(float(value), 0.0), 120.0)
            except ValueError:
                pass
            try:  # the other form HTTP allows: a date
                return min(max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0), 120.0)
            except (TypeError, ValueError):
                pass
    return random.uniform(0, base * (2 ** attempt)) if base > 0 else 0.0


def _where(desc: ModelDescription) -> str:
    return desc.base_url or ("the embedded model" if desc.api_type == "embedded" else "api.openai.com")


def _describe_failure(desc: ModelDescription, tag: str, exc: BaseException, attempts: int) -> str:
    what = f"model '{desc.model}' (tag '{tag}') at {_where(desc)}"
    tries = f" after {attempts} attempt{'s' if attempts > 1 else ''}"
    if isinstance(exc, (openai.APITimeoutError, asyncio.TimeoutError)):
        text = f"{what} timed out{tries}; check that the server is up, or raise 'timeout' in OAI_CONFIG_LIST"
    elif isinstance(exc, openai.APIConnectionError):
        text = f"cannot reach {what}: connection failed{tries}. Check base_url in OAI_CONFIG_LIST and that the server is running"
    elif isinstance(exc, openai.AuthenticationError):
        text = f"{what} refused the API key (401). Check api_key in OAI_CONFIG_LIST or .env"
    elif isinstance(exc, openai.NotFoundError):
        text = f"{what} answered 404: the model name or base_url is wrong"
    elif isinstance(exc, openai.APIStatusError):
        text = f"{what} answered HTTP {exc.status_code}{tries}: {scrub(str(exc.message))[:200]}"  # scrubbed before it is cut
    else:
        text = f"{what} returned a response that is not a chat completion{tries} ({type(exc).__name__}: {scrub(str(exc))[:200]})"
    return scrub(text)

"""A small OpenAI-compatible server on 127.0.0.1 for tests and benchmarks of the HTTP path.

It answers /v1/chat/completions from a responder function (so concurrent requests get the right
reply whatever their order), records every request with its timing, and can inject faults: an
error status (with Retry-After), a slow reply, a malformed body, empty content, a dropped
connection, or the whole server dying after N requests.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

Responder = Callable[[dict[str, Any]], str]
Fault = Callable[[BaseHTTPRequestHandler], bool]  # answers the request itself and returns True, or returns False

PROMPT = "You answer the customer politely and follow the policy exactly."  # smart_responder's proposal
JUNK = "I think these outputs are quite good overall, maybe a 7."  # a reply that holds no JSON object


def smart_responder(request: dict[str, Any]) -> str:
    """Valid replies for each role, recognised by the JSON schema the request asks for."""
    schema = requested_schema(request)
    props = schema.get("properties", {})
    if "prompt" in props:
        return json.dumps({"prompt": PROMPT, "changes": "drafted"})
    if "scores" in props:
        crit = props["scores"]["required"]
        reply: dict[str, Any] = {"scores": {c: 7 for c in crit}, "issues": ["too long"], "edits": ["ask for brevity"]}
        if "per_output" in props:
            reply["per_output"] = [7] * int(props["per_output"].get("minItems", 1))
        return json.dumps(reply)
    return "A polite answer."


def requested_schema(request: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema a request asks for: in response_format, or appended to a user message
    (the first one, when a repair retry follows it)."""
    fmt = (request.get("response_format") or {}).get("json_schema")
    if fmt:
        return fmt.get("schema") or {}
    marker = "matching this JSON schema:\n"
    for message in reversed(request["messages"]):
        text = message.get("content")
        if isinstance(text, str) and marker in text:
            return json.loads(text.split(marker, 1)[1])
    return {}


def is_review(request: dict[str, Any]) -> bool:
    """Whether a request is a critic's review (its schema asks for scores)."""
    return "scores" in requested_schema(request).get("properties", {})


def junk_reviews(times: int | None, base: Responder = smart_responder) -> Responder:
    """A responder whose first `times` review replies (all of them when None) are not JSON."""
    left = [times]
    lock = threading.Lock()

    def respond(request: dict[str, Any]) -> str:
        if is_review(request):
            with lock:
                junk = left[0] is None or left[0] > 0
                if junk and left[0] is not None:
                    left[0] -= 1
            if junk:
                return JUNK
        return base(request)

    return respond


@dataclass
class Hit:
    """One request as the server saw it: when it arrived, when the answer was written, with what status."""

    index: int
    arrived: float  # time.monotonic()
    done: float | None = None
    status: int | None = None  # None: no answer (dropped, or the client went away)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many parallel calls connect at once; the default backlog of 5 drops SYNs


class FakeOpenAI:
    """Start with `with FakeOpenAI() as srv:`; `srv.base_url` is the OpenAI base URL.

    `latency` delays every answer (each request has its own thread, so delays overlap);
    `port` reuses a given port, e.g. to bring a dead server back where the config points.
    """

    def __init__(self, responder: Responder = smart_responder, *, port: int = 0, latency: float = 0.0):
        self.responder = responder
        self.latency = latency
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []  # each request's path and query, as sent
        self.hits: list[Hit] = []
        self.faults: list[Fault] = []  # popped one per request, in arrival order
        self.fault_for: Callable[[dict[str, Any]], Fault | None] | None = None  # or chosen by the request itself
        self.die_at: int | None = None  # requests from this index on are dropped, and the server stops
        self._lock = threading.Lock()
        self._stop_lock = threading.Lock()  # a second stop() waits until the first has closed the socket
        self._stopped = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake._lock:
                    hit = Hit(index=len(fake.requests), arrived=time.monotonic())
                    fake.requests.append(body)
                    fake.headers.append(dict(self.headers))
                    fake.paths.append(self.path)
                    fake.hits.append(hit)
                    dying = fake.die_at is not None and hit.index >= fake.die_at
                    fault = None if dying else (fake.faults.pop(0) if fake.faults else None)
                if fault is None and not dying and fake.fault_for is not None:
                    fault = fake.fault_for(body)
                self.body, self.hit, self.fake = body, hit, fake  # for faults
                if dying:
                    self.close_connection = True  # no answer at all: the client sees the server vanish
                    threading.Thread(target=fake.stop, daemon=True).start()
                    return
                if fault is not None and fault(self):
                    return
                if fake.latency:
                    time.sleep(fake.latency)
                send_completion(self, fake.responder(body))

        self.server = _Server(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def die_after(self, n: int) -> None:
        """Answer `n` more requests, then drop the next one and stop listening (connections are refused)."""
        with self._lock:
            self.die_at = len(self.requests) + n

    def die_at_request(self, index: int) -> None:
        """Drop request `index` and every later one, and stop listening (a fault calls this)."""
        with self._lock:
            self.die_at = index if self.die_at is None else min(self.die_at, index)
        threading.Thread(target=self.stop, daemon=True).start()

    def stop(self) -> None:
        """Stop serving and close the listening socket (idempotent; returns once the port is free)."""
        with self._stop_lock:
            if not self._stopped:
                self.server.shutdown()
                self.server.server_close()
                self._stopped = True

    def __enter__(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _write(h: BaseHTTPRequestHandler, code: int, body: bytes, headers: dict[str, str] | None = None,
           content_type: str = "application/json") -> None:
    """Send a complete response; a client that gave up (timeout) is not an error of the server."""
    try:
        h.send_response(code)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
        h.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        return
    hit = getattr(h, "hit", None)
    if hit is not None:
        hit.done, hit.status = time.monotonic(), code


def completion(content: str | None, model: str = "fake", n: int = 0) -> dict[str, Any]:
    """A chat.completion body with this content."""
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def send_completion(h: BaseHTTPRequestHandler, content: str | None) -> None:
    """Answer 200 with a chat completion holding `content`."""
    body = getattr(h, "body", {})
    n = getattr(h, "hit", None)
    _write(h, 200, json.dumps(completion(content, body.get("model", "fake"), n.index if n else 0)).encode())


def status_fault(code: int, headers: dict[str, str] | None = None, message: str | None = None) -> Fault:
    """A fault that answers with an HTTP error status (e.g. 429 with {"Retry-After": "0.3"}, or 500)."""

    def fault(h: BaseHTTPRequestHandler) -> bool:
        body = json.dumps({"error": {"message": message or f"injected {code}", "type": "fault"}}).encode()
        _write(h, code, body, headers)
        return True

    return fault


def slow_fault(seconds: float) -> Fault:
    """A fault that answers correctly, but only after `seconds` (longer than the client's timeout)."""

    def fault(h: BaseHTTPRequestHandler) -> bool:
        time.sleep(seconds)
        return False  # then the normal answer, to a client that has usually given up

    return fault


def body_fault(body: bytes, content_type: str = "application/json") -> Fault:
    """A fault that answers 200 with this exact body (not JSON, or JSON that is no completion)."""

    def fault(h: BaseHTTPRequestHandler) -> bool:
        _write(h, 200, body, content_type=content_type)
        return True

    return fault


def content_fault(content: str | None) -> Fault:
    """A fault that answers a well-formed completion whose content is this (e.g. "" or None)."""

    def fault(h: BaseHTTPRequestHandler) -> bool:
        send_completion(h, content)
        return True

    return fault


def die_fault() -> Fault:
    """A fault that kills the server: this request gets no answer, and later ones are refused."""

    def fault(h: BaseHTTPRequestHandler) -> bool:
        h.close_connection = True
        h.fake.die_at_request(h.hit.index)  # type: ignore[attr-defined]
        return True

    return fault


def passthrough(n: int) -> list[Fault]:
    """n faults that do nothing, to let n requests through before the next fault."""
    return [lambda h: False] * n


def is_execution(request: dict[str, Any]) -> bool:
    """Whether a request is the Task Executor's running smart_responder's prompt (its system message)."""
    return request["messages"][0]["content"] == PROMPT


def is_proposal(request: dict[str, Any]) -> bool:
    """Whether a request is the Prompt Engineer's (its schema asks for a prompt)."""
    return "prompt" in requested_schema(request).get("properties", {})


def on_matching(match: Callable[[dict[str, Any]], bool],
                faults: list[Fault]) -> Callable[[dict[str, Any]], Fault | None]:
    """For FakeOpenAI.fault_for: the faults, in order, for the requests that match (retries match too)."""
    left = list(faults)
    lock = threading.Lock()

    def pick(request: dict[str, Any]) -> Fault | None:
        if not match(request):
            return None
        with lock:
            return left.pop(0) if left else None

    return pick


def drop_fault() -> Fault:
    """A fault that closes the connection without any answer."""

    def fault(h: BaseHTTPRequestHandler) -> bool:
        h.close_connection = True
        return True

    return fault


class ChildServer:
    """A FakeOpenAI in a child process, for benchmarks: its work does not share the GIL with the client.

    `with ChildServer(latency=0.2) as srv:` gives `srv.base_url`; `srv.hits()` returns (and forgets)
    the (arrived, done) times of the requests answered so far, on the time.monotonic() clock, which
    the processes share.
    """

    def __init__(self, latency: float = 0.0):
        import multiprocessing as mp

        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve_child, args=(child, latency), daemon=True)
        self.base_url = ""

    def __enter__(self) -> "ChildServer":
        self._proc.start()
        self.base_url = self._conn.recv()
        return self

    def hits(self) -> list[tuple[float, float]]:
        self._conn.send("hits")
        return self._conn.recv()

    def __exit__(self, *exc: object) -> None:
        self._conn.send("stop")
        self._proc.join(timeout=5)


def _serve_child(conn: Any, latency: float) -> None:
    with FakeOpenAI(latency=latency) as srv:
        conn.send(srv.base_url)
        while conn.recv() == "hits":
            with srv._lock:
                done = [(h.arrived, h.done) for h in srv.hits if h.done is not None]
                srv.hits.clear()
            conn.send(done)


def completion_fault(content: str | None, **fields: Any) -> Fault:
    """A fault that answers a completion with `content` and some fields replaced: `usage` (merged into the
    usual counts; a value may be float('nan') or float('inf'), sent as the bare words NaN and Infinity),
    `finish_reason`, or `model` (a server that answers with another model's name)."""

    def fault(h: BaseHTTPRequestHandler) -> bool:
        n = getattr(h, "hit", None)
        body = completion(content, fields.get("model", getattr(h, "body", {}).get("model", "fake")), n.index if n else 0)
        if "usage" in fields:
            body["usage"] = {**body["usage"], **fields["usage"]}
        if "finish_reason" in fields:
            body["choices"][0]["finish_reason"] = fields["finish_reason"]
        _write(h, 200, json.dumps(body).encode())  # json.dumps writes NaN and Infinity as the bare words
        return True

    return fault

"""A small OpenAI-compatible server on 127.0.0.1 for tests of the HTTP path.

It answers /v1/chat/completions from a responder function (so concurrent requests get the right
reply whatever their order), records every request, and can inject faults.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

Responder = Callable[[dict[str, Any]], str]


def smart_responder(request: dict[str, Any]) -> str:
    """Valid replies for each role, recognised by the JSON schema the request asks for."""
    schema = requested_schema(request)
    props = schema.get("properties", {})
    if "prompt" in props:
        return json.dumps({"prompt": "You answer the customer politely and follow the policy exactly.", "changes": "drafted"})
    if "scores" in props:
        crit = props["scores"]["required"]
        return json.dumps({"scores": {c: 7 for c in crit}, "issues": ["too long"], "edits": ["ask for brevity"]})
    return "A polite answer."


def requested_schema(request: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema a request asks for: in response_format, or appended to the last message."""
    fmt = (request.get("response_format") or {}).get("json_schema")
    if fmt:
        return fmt.get("schema") or {}
    text = request["messages"][-1]["content"]
    marker = "matching this JSON schema:\n"
    if marker in text:
        return json.loads(text.split(marker, 1)[1])
    return {}


class FakeOpenAI:
    """Start with `with FakeOpenAI() as srv:`; `srv.base_url` is the OpenAI base URL."""

    def __init__(self, responder: Responder = smart_responder):
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.faults: list[Callable[[BaseHTTPRequestHandler], bool]] = []  # each returns True if it answered
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake._lock:
                    fake.requests.append(body)
                    fake.headers.append(dict(self.headers))
                    fault = fake.faults.pop(0) if fake.faults else None
                if fault is not None and fault(self):
                    return
                content = fake.responder(body)
                reply = {
                    "id": f"chatcmpl-{len(fake.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", "fake"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                }
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def status_fault(code: int, headers: dict[str, str] | None = None) -> Callable[[BaseHTTPRequestHandler], bool]:
    """A fault that answers with an HTTP error status."""

    def fault(h: BaseHTTPRequestHandler) -> bool:
        body = json.dumps({"error": {"message": f"injected {code}", "type": "fault"}}).encode()
        h.send_response(code)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
        return True

    return fault

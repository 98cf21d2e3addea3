"""The reviewer's console: the round brief a human reads after the critics, the line reader that waits for an
answer (with a timeout, cancelled by Ctrl-C), the commands, and an edit in the user's own editor."""

from __future__ import annotations

import asyncio
import difflib
import os
import shlex
import subprocess
import sys
import tempfile
from typing import IO

from autogen_core import CancellationToken

from ..records import score_text
from ..search import RunContext, failures_text
from ..terminal import say

HELP = """Reviewer commands:
  Enter          go on as the panel and the moderator decide
  any text       feedback the Prompt Engineer must address in the next round
  /edit          edit the prompt yourself ($EDITOR, or type it here); it becomes the next candidate
  /score N       your own score for this round, 1-10 (counted in the panel); then Enter or another command
  /approve       accept this round's prompt and finish
  /stop          finish now, keeping the best prompt so far
  /help          this help"""

_EOF = object()
_TIMEOUT = object()


class LineReader:
    """Reads lines from a file descriptor without blocking the event loop, with an optional timeout.

    Works the same on a terminal and on a pipe, so a review can be scripted; Ctrl-C cancels a wait.
    """

    def __init__(self, cancel: CancellationToken | None = None):
        self.fd = sys.stdin.fileno()
        self._buf = b""
        self.eof = False
        self.cancel = cancel

    async def readline(self, timeout: float | None) -> object:
        """A line without its newline, or _EOF, or _TIMEOUT."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while b"\n" not in self._buf and not self.eof:
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(self.fd, lambda: ready.done() or ready.set_result(None))
            if self.cancel is not None:
                self.cancel.link_future(ready)
            try:
                left = None if deadline is None else max(0.0, deadline - loop.time())
                await asyncio.wait_for(ready, left)
            except asyncio.TimeoutError:
                return _TIMEOUT
            finally:
                loop.remove_reader(self.fd)
            chunk = os.read(self.fd, 4096)
            if chunk:
                self._buf += chunk
            else:
                self.eof = True
        if b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            return line.decode("utf-8", "replace").rstrip("\r")
        if self._buf:
            line, self._buf = self._buf, b""
            return line.decode("utf-8", "replace")
        return _EOF


class ReviewConsole:
    """The reviewer's side of the terminal: the round summary, the prompt, and the editor."""

    def __init__(self, table: RunContext, *, timeout: float | None = None):
        self.table = table
        self.timeout = timeout
        self.out: IO[str] = sys.stdout
        self.reader = LineReader(cancel=table.cancel)
        self.score: float | None = None

    def say(self, text: str) -> None:
        """Print to the reviewer at once."""
        say(text, file=self.out)

    async def ask(self, prompt: str, cancellation_token: CancellationToken | None = None) -> str:
        """Show the round and read commands until one that ends the review of this round."""
        self.score = None
        self.say(round_brief(self.table))
        while True:
            if self.reader.eof:
                self.say("review> (end of input: going on)")
                return ""
            self.out.write("review> ")
            self.out.flush()
            line = await self.reader.readline(self.timeout)
            if line is _TIMEOUT:
                self.say(f"\n(no answer in {self.timeout:g} s: going on)")
                return "/timeout"
            if line is _EOF:
                self.say("")
                return ""
            text = str(line).strip()
            if text == "/help":
                self.say(HELP)
            elif text.startswith("/score"):
                arg = text[len("/score"):].strip()
                try:
                    value = float(arg)
                    if not 1 <= value <= 10:
                        raise ValueError
                except ValueError:
                    self.say("/score takes a number from 1 to 10, e.g. /score 7")
                    continue
                self.score = value
                self.say(f"score {value:g} recorded; press Enter to go on, or give another command")
            elif text.startswith("/") and text.split()[0] not in ("/edit", "/approve", "/stop"):
                self.say(f"unknown command {text.split()[0]}; /help lists the commands")
            else:
                return text

    async def edit(self, prompt: str) -> str | None:
        """The prompt, edited in $EDITOR or typed here (end with a line holding only '.'); None if unchanged."""
        var = "VISUAL" if os.environ.get("VISUAL") else "EDITOR"
        editor = os.environ.get(var)
        text: str | None = None
        if editor:
            with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as fh:
                fh.write(prompt)
                path = fh.name
            try:
                try:
                    await asyncio.to_thread(subprocess.run, [*shlex.split(editor), path], check=False)
                except (OSError, ValueError) as exc:  # not found, not executable, or unbalanced quotes in the setting
                    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                    self.say(f"cannot start the editor '{editor}' ({var}): {why}; "
                             "type the new prompt instead, end with a line '.'")
                else:
                    with open(path, encoding="utf-8", errors="replace") as fh:
                        text = fh.read().strip()
            finally:
                os.unlink(path)
        if text is None:
            if not editor:
                self.say("Type the new prompt; end with a line holding only '.' (an empty prompt keeps the old one):")
            lines: list[str] = []
            while True:
                line = await self.reader.readline(None)
                if line is _EOF or line == ".":
                    break
                lines.append(str(line))
            text = "\n".join(lines).strip()
        return text if text and text != prompt.strip() else None


def round_brief(table: RunContext) -> str:
    """The compact round summary a reviewer sees."""
    state = table.state
    record = state.current()
    best = state.best()
    base = best.prompt if best and best.round != record.round else (state.rounds[-2].prompt if len(state.rounds) > 1 else "")
    lines = [f"\n── Review round {record.round} ──"]
    if base:
        diff = list(difflib.unified_diff(base.splitlines(), record.prompt.splitlines(), "best so far", f"v{record.round}", lineterm="", n=1))
        lines.append("Prompt changes:" if diff else "Prompt: unchanged from the best so far")
        lines += [f"  {d}" for d in diff[2:40]]
    else:
        lines.append("Prompt:")
        lines += [f"  {x}" for x in record.prompt.splitlines()]
    if table.scenario.labeled:
        lines.append(f"Metric: train {score_text(record.train_score)}, dev {score_text(record.dev_score)}"
                     + (f" (best so far: round {best.round}, dev {score_text(best.dev_score)})" if best else ""))
        fails = failures_text(table, record)
        if fails != "(none)":
            lines.append("Failing examples:")
            lines += [f"  {x}" for x in fails.splitlines()[:12]]
    for r in record.critics:
        if r.review is None:
            lines.append(f"  {r.critic}: (review unusable, not counted)")
            continue
        scores = ", ".join(f"{k} {v}" for k, v in r.review.scores.items())
        issue = f" — {r.review.issues[0]}" if r.review.issues else ""
        lines.append(f"  {r.critic}: {scores}{issue}")
    if record.panel and record.panel.score is not None:
        lines.append(f"Panel overall {record.panel.score:.2f}; dev score {score_text(record.dev_score)}")
    lines.append("Enter = go on · text = feedback · /edit · /score N · /approve · /stop · /help")
    return "\n".join(lines)

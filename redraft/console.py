"""What the terminal shows: the chat as it streams, then the summary and the final prompt."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, TextIO

# Only small modules here: cli.py prints its errors through say(), also when the heavy modules failed to load.
from .secrets import scrub
from .terminal import no_color, say, terminal_width, visible, write

if TYPE_CHECKING:
    from .api import Hooks
    from .records import Summary
    from .records import Entry
    from .store import RunRecord

ROLE_COLORS = {"prompt_engineer": "36", "task_executor": "33", "critic_panel": "35", "moderator": "32", "user": "37"}

class Styled(NamedTuple):
    """A part of a line shown in a style (an SGR code such as "1" or "36;1") when colour is on."""

    code: str
    text: str


class ProgressLine:
    """Progress on stderr. On a terminal, one faint line rewritten in place and cut to the terminal's width (a longer
    line wraps, and each rewrite then leaves its first rows behind). Elsewhere (a log, a pipe) a plain line when the
    step changes, at most one every `every` seconds, and one every `heartbeat` seconds within a long step, so a log
    shows where the job is without a line per model call."""

    def __init__(self, *, every: float = 5.0, heartbeat: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.tty = sys.stderr.isatty()
        self.plain = no_color()  # NO_COLOR: no escape at all; the line is rewritten with \r and spaces
        self.every, self.heartbeat, self.clock = every, heartbeat, clock
        self.logged: tuple[str, float] | None = None  # off a terminal: the step last written, and when
        self.shown = False
        self.length = 0  # of the line shown, to blank it without an escape

    def show(self, text: str, *, step: str | None = None) -> None:
        """Show where the work is now; `step` names it for a log (by default the text before " — ")."""
        text = visible(text)
        if self.tty:
            line = _cut(f"… {text}", terminal_width(sys.stderr) - 1)  # the last column would wrap on some terminals
            if self.plain:
                write(sys.stderr, "\r" + line.ljust(self.length))
            else:
                write(sys.stderr, f"\r\033[K\033[2m{line}\033[0m")
            self.length = len(line)
            self.shown = True
            return
        step = text.split(" — ")[0] if step is None else step
        now = self.clock()
        if self.logged is not None:
            last, at = self.logged
            if now - at < (self.every if step != last else self.heartbeat):
                return
        self.logged = (step, now)
        write(sys.stderr, text + "\n")

    def clear(self) -> None:
        """Erase the line on a terminal, so what is printed next starts clean."""
        if self.shown:
            write(sys.stderr, "\r" + " " * self.length + "\r" if self.plain else "\r\033[K")
            self.shown = False
            self.length = 0


def _cut(line: str, width: int) -> str:
    """The line cut to `width` characters, an ellipsis saying it was."""
    width = max(width, 10)
    return line if len(line) <= width else line[: width - 1] + "…"


class Console:
    """Streams transcript entries to a terminal, compactly and (on a tty) in colour."""

    def __init__(self, out: TextIO | None = None, *, quiet: bool = False, width: int = 100):
        self.out = out or sys.stdout
        self.quiet = quiet
        self.width = width
        self.color = self.out.isatty() and not no_color()
        self._round = 0
        self._progress = ProgressLine()
        self._t0 = time.monotonic()

    def _c(self, code: str, text: str) -> Styled:
        return Styled(code, text)

    def print(self, *parts: str | Styled) -> None:
        """Print one line (or block) made of parts and flush, so a pipe sees it at once.

        Every part's text is made visible (secrets masked, control characters shown); a Styled part gets
        its colour escapes after that, and only when colour is on. A closed pipe stops the printing, not the run."""
        self._clear_progress()
        line = ""
        for part in parts:
            if isinstance(part, Styled):
                text = visible(scrub(part.text))
                line += f"\033[{part.code}m{text}\033[0m" if self.color else text
            else:
                line += visible(scrub(part))
        write(self.out, line + "\n")

    def hooks(self) -> "Hooks":
        """The callbacks that show a run live."""
        from .api import Hooks

        return Hooks(on_message=self.on_message, on_status=self.status, on_progress=self.progress)

    def status(self, text: str) -> None:
        """Setup news (model start, run folder), on stderr so stdout stays the chat."""
        self._clear_progress()
        say(f"redraft: {text}", file=sys.stderr)

    def progress(self, text: str) -> None:
        """Where the run is, after the time since it started; on a terminal, one line rewritten in place."""
        from .llm import duration

        self._progress.show(f"[{duration(time.monotonic() - self._t0)}] {text}", step=text.split(" — ")[0])

    def _clear_progress(self) -> None:
        self._progress.clear()

    def on_message(self, entry: Entry) -> None:
        """Show one transcript entry as it happens."""
        if self.quiet:
            return
        kind, source, content, rnd = entry.kind, entry.source, entry.content, entry.round
        if kind == "task":
            self.print(self._c("1", "Task"), "\n" + _indent(content, 2))
            return
        if kind == "test":  # its entry carries the round of the prompt tested, often an earlier one
            self.print("\n", self._c("1", "━━ Test " + "━" * 43))
        elif rnd > self._round:
            self._round = rnd
            self.print("\n", self._c("1", f"━━ Round {rnd} " + "━" * 40))
        if kind == "outputs":
            content = _clip_lines(content, 220)
        color = ROLE_COLORS.get(source, "35" if kind == "review" else "37")
        name = f"  {source}" if kind == "review" else source
        self.print(self._c(color + ";1", f"{name}:"), "\n" + _indent(content, 4 if kind == "review" else 2))

    def summary(self, s: Summary, run_dir: str, *, status: str | None = None) -> None:
        """The end of a run: scores per round, best, stop reason, usage, files, final prompt."""
        from .records import agreement_text, score_text

        self.print("\n", self._c("1", "━━ Summary " + "━" * 40))
        self.print(f"scenario   {s.scenario}   (scores: {s.score_scale})")
        agree = [agreement_text(r.panel.agreement if r.panel else None) for r in s.rounds]
        width = max([5, *map(len, agree)])
        self.print(f"round    dev  train  panel  {'agree':>{width}}  origin           selection")
        for r, alpha in zip(s.rounds, agree):
            sel = r.selection.reason if r.selection else ""
            mark = "← best " if r.round == s.best_round else ""
            self.print(f"{r.round:5d}  {score_text(r.dev_score, 5)}  {score_text(r.train_score, 5)}  {score_text(r.mean.get('overall'), 5)}  "
                       f"{alpha:>{width}}  {r.origin:<15}  {mark}{sel}")
        for r in s.rounds:
            if r.metric_errors:
                self.print(f"metric     round {r.round}: failed on {r.metric_errors} examples (scored 0): {r.metric_error}")
        base = s.majority
        if base:  # what always giving train's most frequent answer scores, on the same examples
            answer = next(iter(base.values())).answer
            dev, train = (base[k].score if k in base else None for k in ("dev", "train"))
            self.print(f"{'base':>5}  {score_text(dev, 5)}  {score_text(train, 5)}  {'':5}  {'':>{width}}  {'':15}  "
                       f"majority class: always answering '{answer}'")
        for line in column_legend(s):
            self.print(self._c("2", line))
        best = f"round {s.best_round} ({s.best_score:.2f})" if s.best_round and s.best_score is not None else "none"
        self.print(f"best       {best}" + (f"; majority class {base['dev'].score:.2f} on dev" if "dev" in base else ""))
        if s.against_start is not None:
            self.print(f"start      {s.against_start.text()}")
        self.print(f"stopped    {s.stop_reason}")
        if status is not None:
            self.print(f"status     {status}")
        if s.test:
            t = s.test
            self.print(f"test       {t.score:.3f} (95% CI {t.ci_low:.3f}..{t.ci_high:.3f}, n={t.n}; held out, scored once)"
                       + (f"; majority class {base['test'].score:.3f}" if "test" in base else ""))
        u = s.usage
        cost = f", ${u.cost_usd:.4f}" if u.cost_usd else ""
        self.print(f"usage      {u.calls} calls ({u.requests} requests sent), {u.prompt_tokens} prompt + "
                   f"{u.completion_tokens} completion tokens{cost}")
        self.print(f"time       {s.seconds:.1f} s")
        self.print(files_line(run_dir))
        if s.final_prompt:
            self.print("\n", self._c("1", "Final prompt"), f" (round {s.best_round or len(s.rounds)}):")
            self.print(_indent(s.final_prompt, 2))


def print_json(data: Any) -> None:
    """Machine-readable output (--json): the data as JSON on stdout, secrets masked, and no character a terminal would
    obey (JSON escapes C0 controls itself; DEL and the C1 controls are escaped here too, which keeps it valid JSON)."""
    import json

    from .records import record_words
    from .secrets import scrub_data

    text = json.dumps(scrub_data(data, record_words()), indent=2, ensure_ascii=False)
    write(sys.stdout, text.translate(_JSON_CONTROLS) + "\n")


_JSON_CONTROLS = {c: f"\\u{c:04x}" for c in range(127, 160)}

RUN_FILES = ("report.html", "transcript.jsonl", "summary.json", "final_prompt.txt", "prompts/")


def files_line(run_dir: str) -> str:
    """The summary's files line: the files the run folder holds now, so a run killed before writing its summary
    or report (kill -9) names none it lacks."""
    have = [name for name in RUN_FILES if _present(Path(run_dir) / name, folder=name.endswith("/"))]
    return f"files      {run_dir}/" + (f"  ({', '.join(have)})" if have else "")


def _present(path: Path, *, folder: bool) -> bool:
    """A file that is there, or a folder with something in it (prompts/ is made before the first prompt)."""
    try:
        return any(path.iterdir()) if folder else path.is_file()
    except OSError:  # missing, not a folder, or unreadable
        return False


def _indent(text: str, n: int) -> str:
    return textwrap.indent(text.rstrip(), " " * n)


def _clip_lines(text: str, limit: int) -> str:
    """Each line cut at `limit`, and each output shown on its first line only (the transcript keeps it whole)."""
    out: list[str] = []
    in_output = False
    for line in text.splitlines():
        if line.startswith("    output: "):
            in_output = True
        elif in_output and not line.startswith("["):
            if not out[-1].endswith("…"):
                out[-1] += " …"
            continue
        else:
            in_output = False
        out.append(line if len(line) <= limit else line[: limit - 1] + "…")
    return "\n".join(out)


def column_legend(s: Summary) -> list[str]:
    """What each score column of the summary table is scored on, and by whom."""
    if s.score_scale.startswith("0-1"):
        selection = "the scenario's metric against the expected outputs, 0-1"
    else:
        selection = "each output scored 1-10 by the critics, averaged over the outputs"
    return [
        f"  dev    {selection}, on the dev examples: this picks the best prompt",
        "  train  the same, on the round's train examples",
        "  panel  the critics' 1-10 scores per criterion, averaged: their verdict on the set as a whole, not used to pick",
        "  agree  how far the critics agree on the outputs (Krippendorff's alpha: 1 = fully, 0 = as by chance)",
    ] + (["  n/a    nothing to score that round (no usable review, or fewer than two for agree)"]
         if any(None in (r.dev_score, r.train_score, r.mean.get("overall")) for r in s.rounds) else [])


def runs_table(runs: list["RunRecord"]) -> list[str]:
    """One line per past run: when, scenario, rounds, best and test score, finished or resumable, why it stopped."""
    from .records import score_text

    lines = [f"{'started':<16}  {'scenario':<20} {'rounds':>6} {'best':>6} {'test':>6}  {'status':<9}  {'stopped':<34}  folder"]
    for p in runs:
        s = p.summary
        started = _local_time(s.started)
        stop = s.stop_reason if len(s.stop_reason) <= 34 else s.stop_reason[:33] + "…"
        lines.append(f"{started:<16}  {s.scenario[:20]:<20} {len(s.rounds):>6} {score_text(s.best_score, 6)} "
                     f"{score_text(s.test.score if s.test else None, 6)}  {p.status:<9}  {stop:<34}  {p.run.path}")
    return lines


def _local_time(iso: str) -> str:
    from datetime import datetime

    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso[:16]

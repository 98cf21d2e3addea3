"""A run as one self-contained HTML page (report.html in its folder): the score per round, what each round
changed and why, what went wrong, what the critics and the reviewer said, the candidates, the usage, and the
held-out test score; every labeled score beside the majority class."""

from __future__ import annotations

import html
import re
from pathlib import Path

from .._files import write_atomic
from ..config import Example, ExampleResult, Scenario
from ..eval import ISSUE_MAX, confusion, error_kind
from ..records import FOCUS_NOTE_MAX, RoundRecord, RunState, Summary, Usage, agreement_text, record_words
from ..secrets import scrub_data
from ..store import RunDir
from . import pages
from .chart import Axis, Level, Line, line_chart

COLORS = {"dev": "#1c7ed6", "train": "#f08c00", "panel": "#7048e8", "test": "#2f9e44", "majority": "#868e96"}
SHOWN = 8  # failing examples shown per round
NOT_SHOWN = "the note describes a change the prompt does not show"
NO_CHANGE_CLAIMED = re.compile(r"^\W*(none|no changes?|unchanged)\W*$|\b(no change|unchanged|same prompt|kept as is)\b", re.I)


def write_run_report(run: RunDir, summary: Summary, state: RunState, scenario: Scenario) -> Path:
    """Write report.html into the run folder; return its path."""
    path = run.path / "report.html"
    # Scrubbed as data, string by string, before rendering: masking the page's text could break its markup.
    summary = Summary.model_validate(scrub_data(summary.model_dump(mode="json"), record_words()))
    state = RunState.model_validate(scrub_data(state.model_dump(mode="json"), record_words()))
    write_atomic(path, render_run(summary, state, scenario))
    return path


def render_run(summary: Summary, state: RunState, scenario: Scenario) -> str:
    """The run report as one HTML page that opens offline."""
    view = _View(summary, state, scenario)
    s = summary
    meta = [("scenario", s.scenario), ("scores", s.score_scale), ("run folder", s.run_dir), ("started", s.started),
            ("written", s.finished), ("stopped", s.stop_reason), ("time", f"{s.seconds:.1f} s"),
            *pages.model_lines(s.models)]
    parts = [
        f"<h1>redraft run: {html.escape(s.scenario)}</h1>",
        f'<p class="verdict">{html.escape(view.headline())}</p>',
        pages.meta_list(meta),
        "<h2>Score per round</h2>",
        pages.note(view.chart_note()),
        view.chart(),
        view.score_table(),
        "<h2>Test (held out)</h2>",
        view.test(),
        "<h2>Final prompt</h2>",
        f'<div class="prompt">{html.escape(s.final_prompt or "(none)")}</div>',
        "<h2>Usage per role and round</h2>",
        view.usage(),
        "<h2>Rounds</h2>",
        *view.rounds(),
    ]
    return pages.page(f"redraft run: {s.scenario}", parts)


class _View:
    """What the page shows, from the summary, the run state and the scenario's examples."""

    def __init__(self, summary: Summary, state: RunState, scenario: Scenario):
        self.summary, self.state, self.scenario = summary, state, scenario
        self.scale = "0-1" if scenario.labeled else "1-10"
        self.examples = {e.id: e for e in [*scenario.splits.train, *scenario.splits.dev, *scenario.splits.test]}
        self.kind = scenario.metric.type if scenario.metric else "panel"
        splits = scenario.splits
        self.n_dev, self.batch = len(splits.dev), min(scenario.minibatch, len(splits.train))  # the examples each line is on
        self.best_before: dict[int, RoundRecord | None] = {}  # round -> the best round before it
        best = None
        for r in state.rounds:
            self.best_before[r.round] = best
            best = r if r.decision and r.decision.accepted else best

    def unchanged(self, r: RoundRecord) -> RoundRecord | None:
        """The best round before `r` when `r` proposed its prompt again (nothing to compare then), else None."""
        best = self.best_before.get(r.round)
        return best if best is not None and best.prompt == r.prompt else None

    def selection(self, r: RoundRecord) -> str:
        """Why the round's prompt was kept or not; an unchanged prompt is said to be so, with no comparison."""
        same = self.unchanged(r)
        if same is not None:
            return f"unchanged: the same prompt as round {same.round}"
        return r.decision.reason if r.decision else ""

    def score(self, value: float | None, scale: str | None = None) -> str:
        return pages.score(value, scale or self.scale)

    def base(self, split: str) -> str:
        """The majority class's score on a split, as '; majority class 0.310' (empty without one)."""
        b = self.summary.majority.get(split)  # type: ignore[call-overload]
        return f"; majority class {self.score(b.score)}" if b else ""

    def headline(self) -> str:
        s = self.summary
        if s.best_round is None:
            return f"No round was scored. Stopped: {s.stop_reason}."
        text = f"Best prompt: round {s.best_round}, dev {self.score(s.best_score)}{self.base('dev')}."
        if s.against_start is not None:
            line = s.against_start.text()
            text += f" {line[0].upper()}{line[1:]}."
        if s.test:
            text += (f" Test (held out, scored once): {self.score(s.test.score)} (95% CI "
                     f"{self.score(s.test.ci_low)}..{self.score(s.test.ci_high)}, n={s.test.n}){self.base('test')}.")
        return text + f" Stopped: {s.stop_reason}."

    # ---- the chart and the table of scores

    def chart_note(self) -> str:
        dev, batch = self.n_dev, self.batch
        text = (f"Each line is scored on its own examples: dev, the {dev} examples prompts are chosen on; train, the "
                f"round's minibatch of up to {batch} train examples (a new sample each round, so it moves more); the "
                "panel, the critics' mean score of the outputs they reviewed (1-10")
        text += ", right axis)." if self.scenario.labeled else ")."
        text += " Dashed: what does not change with the round."
        if self.summary.majority:
            text += " The majority class always gives train's most frequent answer: a prompt must beat it to show skill."
        return text

    def chart(self) -> str:
        rounds, labeled, dev, batch = self.state.rounds, self.scenario.labeled, self.n_dev, self.batch

        def series(value: str) -> list[tuple[int, float]]:
            return [(r.round, v) for r in rounds if (v := getattr(r, value)) is not None]

        panel = [(r.round, r.panel.mean["overall"]) for r in rounds if r.panel and "overall" in r.panel.mean]
        lines = [  # dev last, on top; each its own marker, so lines that meet still show both
            Line(series("train_score"), COLORS["train"], f"train (minibatch of up to {batch})", marker="square",
                 name="train", attrs={"id": "train-line"}),
            Line(panel, COLORS["panel"], "panel (critics, 1-10" + (", right axis)" if labeled else ")"), marker="diamond",
                 axis="right" if labeled else "left", name="panel", attrs={"id": "panel-line"}),
            Line(series("dev_score"), COLORS["dev"], f"dev ({dev} examples)", name="dev", attrs={"id": "dev-line"}),
        ]
        levels = []
        if (base := self.summary.majority.get("dev")) is not None:
            levels.append(Level(base.score, COLORS["majority"], f"majority class on dev: {self.score(base.score)}",
                                {"class_": "baseline"}))
        if self.summary.test:
            t = self.summary.test
            levels.append(Level(t.score, COLORS["test"], f"final prompt on test ({t.n} examples): {self.score(t.score)}",
                                {"class_": "test"}))
        left = Axis("metric score (0-1)" if labeled else "panel score (1-10)", self.scale)
        right = Axis("panel score (1-10)", "1-10") if labeled else None
        return line_chart(lines, levels, left, right=right, fmt="{:.3f}" if labeled else "{:.2f}")

    def score_table(self) -> str:
        headers = ["round", "dev", "train", "panel", "agreement (α)", "origin", "selection"]
        rows, css = [], []
        for r in self.state.rounds:
            best = " (best)" if r.round == self.summary.best_round else ""
            rows.append([f"{r.round}{best}", self.score(r.dev_score), self.score(r.train_score),
                         self.score(r.panel.mean.get("overall") if r.panel else None, "1-10"),
                         agreement_text(r.panel.agreement if r.panel else None), r.origin, self.selection(r)])
            css.append("chosen" if best else "")
        if self.summary.majority:
            m = self.summary.majority
            rows.append([f"majority class ('{next(iter(m.values())).answer}')",
                         *[self.score(m[k].score) if k in m else "–" for k in ("dev", "train")], "–", "–", "–", ""])
            css.append("baseline")
        return pages.table(headers, rows, row_css=css, text=(5, 6))

    # ---- test, usage

    def test(self) -> str:
        t, held = self.summary.test, self.state.test
        if t is None:
            why = ("no test examples in the split" if not self.scenario.splits.test
                   else "this chat is an arm of a comparison, which scores every arm's prompt on test: see its report"
                   if self.state.test_elsewhere else "not scored: the run stopped first")
            return pages.note(f"No test score ({why}).")
        rows = [[f"final prompt (round {t.round})", self.score(t.score),
                 f"{self.score(t.ci_low)}..{self.score(t.ci_high)}", str(t.n)]]
        if "test" in self.summary.majority:
            rows.append([f"majority class ('{self.summary.majority['test'].answer}')",
                         self.score(self.summary.majority["test"].score), "–", str(t.n)])
        out = [pages.table(["", "score", "95% CI", "examples"], rows, row_css=["", "baseline"][: len(rows)]),
               pages.note("Scored once, at the end, for the final prompt only; nothing was chosen on these examples.")]
        if held is not None:
            out.append(self.errors(list(self.scenario.splits.test), held.per_example, held.outputs, "test"))
        return "\n".join(out)

    def usage(self) -> str:
        by_round = self.summary.usage_by_round
        if not by_round:
            return pages.note("No usage per round recorded.")
        rounds = sorted(by_round, key=lambda n: (n == 0, n))  # round 0 is the test scoring, at the end
        roles = list(dict.fromkeys(role for n in rounds for role in by_round[n]))
        headers = ["role", *[f"round {n}" if n else "test" for n in rounds], "total"]
        rows = []
        for role in roles:
            cells = [by_round[n].get(role) for n in rounds]
            rows.append([role, *[_usage(u) for u in cells], _usage(self.summary.usage_by_role.get(role))])
        totals = []
        for n in rounds:
            total = Usage()
            for u in by_round[n].values():
                total.add(u)
            totals.append(_usage(total))
        rows.append(["all roles", *totals, _usage(self.summary.usage)])
        u = self.summary.usage
        cost = f", ${u.cost_usd:.4f}" if u.cost_usd else ""
        return "\n".join([pages.table(headers, rows, row_css=[""] * len(roles) + ["chosen"]),
                          pages.note(f"Model calls (in brackets, those replayed from the reply cache) and tokens "
                                     "(prompt + completion); test: the final scoring on the held-out examples. In all: "
                                     f"{u.calls} calls, {u.network_calls} over the network ({u.requests} requests with "
                                     f"retries), {u.cache_hits} from the cache{cost}.")])

    # ---- rounds

    def rounds(self) -> list[str]:
        out = [self.round(r, self.best_before[r.round]) for r in self.state.rounds]
        return out or [pages.note("No round was recorded.")]

    def round(self, r: RoundRecord, best: RoundRecord | None) -> str:
        scores = [f"dev {self.score(r.dev_score)}{self.base('dev')}", f"train {self.score(r.train_score)}"]
        if r.panel and r.panel.score is not None:
            scores.append(f"panel {self.score(r.panel.score, '1-10')}, agreement α {agreement_text(r.panel.agreement)}")
        if r.judge_validity is not None:
            scores.append(f"judge validity {r.judge_validity:+.2f}")
        outcome = ": unchanged" if self.unchanged(r) else _outcome(r)
        parts = [f'<section class="round" id="round-{r.round}">',
                 f"<h3>Round {r.round} — {html.escape(r.origin)}{outcome}</h3>", pages.note("; ".join(scores) + "."),
                 *self.prompt_change(r, best)]
        if r.candidates:
            parts += ["<p><b>Candidates</b></p>", self.candidates(r, best)]
        split = "dev" if r.dev else "train"
        parts += [f"<p><b>Errors</b> (on {split})</p>",
                  self.errors([self.examples[i] for i in (r.dev or r.train) if i in self.examples], r.dev or r.train,
                              r.outputs, split)]
        parts += ["<p><b>Critics</b></p>", self.critics(r)]
        if r.reviewer is not None:
            v = r.reviewer
            said = f": {v.text}" if v.text else ""
            scored = f" (score {v.score:g}/10)" if v.score is not None else ""
            parts.append(f"<p><b>Reviewer:</b> {html.escape(v.action + said + scored)}</p>")
        if self.unchanged(r):
            parts.append(f"<p><b>Selection:</b> {html.escape(self.selection(r))}.</p>")
        elif r.decision is not None:
            verdict = "kept as the new best" if r.decision.accepted else "not kept"
            parts.append(f"<p><b>Selection:</b> {verdict} ({html.escape(r.decision.rule)} rule): "
                         f"{html.escape(r.decision.reason)}.</p>")
        if r.focus:
            parts.append(f"<p><b>Focus next:</b> {html.escape(_focus(r.focus))}</p>")
        return "\n".join([*parts, "</section>"])

    def prompt_change(self, r: RoundRecord, best: RoundRecord | None) -> list[str]:
        """The round's prompt (as a diff from the best so far when it differs) and the engineer's note, flagged
        when it claims a change the prompt does not show."""
        mine = "This round's prompt" + (" (the best of its candidates)" if len(r.candidates) > 1 else "")
        if best is None or best.prompt == r.prompt:
            what = mine + (" (unchanged from the best so far)" if best else "")
            parts = [f"<p>{what}:</p>", f'<div class="prompt">{html.escape(r.prompt)}</div>']
        else:
            parts = [f"<p>{mine}, against the best so far (round {best.round}):</p>",
                     f'<div class="diff">{pages.word_diff(best.prompt, r.prompt)}</div>']
        flag = _not_shown(r.changes, r.prompt, best.prompt if best else None)
        return parts + [f"<p><b>Engineer's note:</b> {html.escape(r.changes or '(none)')}{flag}</p>"]

    def candidates(self, r: RoundRecord, best: RoundRecord | None) -> str:
        head = "".join(f"<th>{h}</th>" for h in ["edit", "what changed", "minibatch (parent)", "dev", "prompt"])
        rows = []
        for c in r.candidates:
            screen = self.score(c.screen) + (f" ({self.score(c.parent_screen)})" if c.parent_screen is not None else "")
            ev = self.state.evaluations.get(c.key)
            prompt = ""
            if ev is not None:
                body = pages.word_diff(best.prompt, ev.prompt) if best else html.escape(ev.prompt)
                prompt = f'<details><summary>{"diff" if best else "prompt"}</summary><div class="diff">{body}</div></details>'
            mark = ' class="chosen"' if c.chosen else ""
            dev = self.score(c.dev) if c.dev is not None else "not promoted"
            flag = _not_shown(c.changes, ev.prompt, best.prompt) if ev is not None and best is not None else ""
            rows.append(f"<tr{mark}><td>{html.escape(c.operator)}{' (chosen)' if c.chosen else ''}</td>"
                        f"<td>{html.escape(c.changes)}{flag}</td><td class=\"num\">{screen}</td><td class=\"num\">{dev}</td>"
                        f"<td>{prompt}</td></tr>")
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"

    def errors(self, examples: list[Example], results: dict[str, ExampleResult], outputs: dict[str, str],
               split: str) -> str:
        """A confusion table (label metrics), else the failing examples."""
        scored = [e for e in examples if e.id in results]
        if not scored:
            return pages.note("No scored examples.")
        if self.kind == "label":
            return _confusion(scored, results, split)
        if self.scenario.labeled:
            failing = [e for e in scored if results[e.id].score < 1]
            head = f"{len(scored) - len(failing)} of {len(scored)} right on {split}."
        else:  # the panel's score of each output; the lowest ones, below the middle of the scale
            failing = sorted((e for e in scored if (results[e.id].score or 0) < 5.5), key=lambda e: results[e.id].score)
            head = f"{len(failing)} of {len(scored)} outputs scored below 5.5 by the panel on {split}."
        if not failing:
            return pages.note(head)
        labeled, rows = self.scenario.labeled, []
        for e in failing[:SHOWN]:
            res, got = results[e.id], outputs.get(e.id, "")
            expected = pages.cell(e.target, "tg") if labeled else ""
            what = error_kind(self.kind, e, res) if labeled else self.score(res.score)
            rows.append(f"<tr><td class=\"id\">{html.escape(e.id)}</td>{pages.cell(e.input, 'in')}{expected}"
                        f"{pages.cell(got or '(empty)', 'out')}<td>{html.escape(what)}</td></tr>")
        more = f" Showing {SHOWN}." if len(failing) > SHOWN else ""
        columns = ["id", "input", "expected", "output", "error"] if labeled else ["id", "input", "output", "panel score"]
        head_row = "".join(f"<th>{h}</th>" for h in columns)
        return (pages.note(head + more) + f'<table class="ex"><thead><tr>{head_row}</tr></thead>'
                f"<tbody>{''.join(rows)}</tbody></table>")

    def critics(self, r: RoundRecord) -> str:
        """Each critic's scores and issues, then the suggested edits of all of them, each edit once."""
        if not r.critics:
            return pages.note("No review this round.")
        rows: list[str] = []
        edits: dict[str, tuple[str, list[str]]] = {}  # an edit as compared -> as shown, and who suggested it
        for c in r.critics:
            if c.review is None:
                rows.append(f"<tr><td>{html.escape(c.critic)}</td><td colspan=\"2\">review unparseable: "
                            f"{html.escape(c.error or '')}</td></tr>")
                continue
            scores = ", ".join(f"{k} {v}" for k, v in c.review.scores.items())
            issues = "".join(f"<li>{html.escape(pages.mend_cut(i, ISSUE_MAX))}</li>" for i in c.review.issues)
            rows.append(f"<tr><td>{html.escape(c.critic)}</td><td>{html.escape(scores)}</td>"
                        f"<td><ul>{issues or '<li>(none)</li>'}</ul></td></tr>")
            for e in c.review.edits:
                text = pages.mend_cut(e, ISSUE_MAX)
                edits.setdefault(" ".join(text.split()).casefold().rstrip(".!… "), (text, []))[1].append(c.critic)
        head = "".join(f"<th>{h}</th>" for h in ["critic", "scores", "issues"])
        items = [f"<li>{html.escape(text)}" + (f' <span class="note">×{len(who)}: {html.escape(", ".join(who))}</span>'
                                               if len(who) > 1 else f' <span class="note">{html.escape(who[0])}</span>')
                 + "</li>" for text, who in edits.values()]
        said = f"<p><b>Suggested edits</b></p><ul>{''.join(items)}</ul>" if items else pages.note("No edit suggested.")
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>\n{said}"


def _confusion(examples: list[Example], results: dict[str, ExampleResult], split: str) -> str:
    """Expected (rows) against answered (columns) counts; the diagonal is right."""
    cells = confusion(examples, results)
    expected = sorted({e for e, _ in cells})
    answered = expected + sorted({a for _, a in cells} - set(expected))
    right = sum(n for (e, a), n in cells.items() if e == a)
    head = "".join(f"<th>{html.escape(a)}</th>" for a in ["expected ↓ answered →", *answered])
    rows = []
    for e in expected:
        tds = []
        for a in answered:
            n = cells.get((e, a), 0)
            css = "hit" if e == a and n else "miss" if n else ""
            tds.append(f'<td class="num {css}">{n or ""}</td>')
        rows.append(f"<tr><th>{html.escape(e)}</th>{''.join(tds)}</tr>")
    table = f'<table class="confusion"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    return pages.note(f"{right} of {len(examples)} right on {split}.") + table


def _not_shown(note: str, prompt: str, parent: str | None) -> str:
    """A flag for a note that claims a change when the prompt is the same as the one it was made from."""
    if parent is None or prompt != parent or not note.strip() or NO_CHANGE_CLAIMED.search(note):
        return ""
    return f' <span class="flag">({NOT_SHOWN})</span>'


def _focus(text: str) -> str:
    """The focus as shown: the moderator's note at its end was cut at FOCUS_NOTE_MAX characters, perhaps mid-word."""
    note_start = len(text) - FOCUS_NOTE_MAX
    if note_start >= 2 and text[note_start - 2 : note_start] == ". ":  # the note filled its whole allowance
        return pages.mend_cut(text, len(text))  # known to be cut
    return text


def _outcome(r: RoundRecord) -> str:
    if r.decision is None:
        return " (not decided: the run stopped first)"
    return ": the new best" if r.decision.accepted else ": not kept"


def _usage(u: Usage | None) -> str:
    if u is None or not (u.calls or u.requests):
        return "–"
    cached = f" ({u.cache_hits} cached)" if u.cache_hits else ""
    return f"{u.calls} call{'s' if u.calls != 1 else ''}{cached}, {u.prompt_tokens + u.completion_tokens:,} tok"

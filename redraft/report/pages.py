"""What the HTML reports (a run's and a comparison's) are made of: one offline page with its style, tables,
word diffs and the way scores, intervals and costs are written."""

from __future__ import annotations

import difflib
import html
import re
import string
from collections.abc import Mapping
from pathlib import PurePath

from ..records import ModelUse
from .chart import scale_bounds

CELL_CHARS = 140  # table cells show this much; the full text is in the cell's title attribute
NUM = ' class="num"'

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#212529;
 max-width:1140px;margin:24px auto;padding:0 16px;background:#fff}
h1{font-size:26px;margin:0 0 12px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #dee2e6}
.verdict{font-size:18px;font-weight:600;background:#fff4e6;border-left:5px solid #f76707;
 padding:10px 14px;margin:0 0 12px}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0;color:#495057}
.meta dt{font-weight:600}.meta dd{margin:0}.note{color:#6c757d;font-size:13px;margin:4px 0}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{border:1px solid #dee2e6;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f1f3f5}th.num{text-align:right}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
svg.chart{width:100%;height:auto;display:block;font-family:inherit}
.diff,.prompt{white-space:pre-wrap;word-wrap:break-word;font:13px/1.45 ui-monospace,"DejaVu Sans Mono",monospace;
 background:#f8f9fa;border:1px solid #dee2e6;border-radius:4px;padding:8px 10px;margin:4px 0 12px}
ins{background:#d3f9d8;color:#2b8a3e;text-decoration:none}del{background:#ffe3e3;color:#c92a2a}
h3{font-size:15px;margin:12px 0 4px}.prompts{display:grid;gap:12px}
.ex td{overflow-wrap:anywhere;min-width:7em}.ex td.id{white-space:nowrap;min-width:0}.ex td.in{min-width:16em}
td.fail{background:#fff5f5}td.fail .s{color:#c92a2a}.s{font-weight:700}.out{color:#495057;font-size:13px}
section.round{border-top:2px solid #dee2e6;margin-top:22px}
table.confusion{width:auto}table.confusion td.hit{background:#ebfbee}table.confusion td.miss{background:#fff5f5}
.flag{color:#c92a2a;font-weight:600}tr.chosen td{font-weight:600}td ul{margin:0;padding-left:18px}tr.baseline td{color:#6c757d;font-style:italic}
"""


def page(title: str, parts: list[str]) -> str:
    """One HTML page with inline CSS that loads nothing from anywhere."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        # Nothing may load from anywhere: the page is a single offline file.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>'
        f"<style>{CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


def meta_list(pairs: list[tuple[str, str]]) -> str:
    """Key-value lines at the top of a report."""
    esc = html.escape
    return '<dl class="meta">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in pairs) + "</dl>"


def note(text: str) -> str:
    """A small grey paragraph."""
    return f'<p class="note">{html.escape(text)}</p>'


def score(value: float | None, scale: str, sign: bool = False) -> str:
    """A score with the digits its scale needs (3 on 0-1, 2 on 1-10), or – when there is none."""
    if value is None:
        return "–"
    bounds = scale_bounds(scale)
    digits = 3 if bounds is None or bounds[1] - bounds[0] <= 1 else 2
    return f"{value:{'+' if sign else ''}.{digits}f}"


def interval(low: float, high: float, scale: str, sign: bool = False) -> str:
    """A confidence interval as [low, high]."""
    return f"[{score(low, scale, sign)}, {score(high, scale, sign)}]"


def cost(value: float | None) -> str:
    """Dollars, or – when unknown."""
    return "–" if value is None else f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def short(text: str, limit: int = CELL_CHARS) -> str:
    """Text on one line, at most `limit` characters: cut at a word boundary with an ellipsis when longer."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else _up_to_whole_word(flat[: limit - 1], whole=flat[limit - 1] == " ")


def mend_cut(text: str, limit: int) -> str:
    """Text its source cut at `limit` characters, perhaps mid-word (a reply's length cap): up to its last whole
    word, with an ellipsis; shorter text was not cut and is kept as it is."""
    return text if len(text) < limit else _up_to_whole_word(text, whole=False)


def _up_to_whole_word(head: str, whole: bool) -> str:
    """A cut text with "…": the word the cut fell in dropped (unless `whole`), and the punctuation left dangling."""
    kept = head if whole else re.sub(r"\S+$", "", head)
    kept = kept.rstrip(string.whitespace + ",;:-–—(")
    return (kept or head) + "…"  # a single word longer than the limit is cut where it is


def model_lines(uses: Mapping[str, ModelUse]) -> list[tuple[str, str]]:
    """The models behind the roles (or tags) as (key, value) lines: one per model, naming the roles that share
    it with their settings; an embedded model's file by its name there and its full path once, after them."""
    groups: dict[str, list[str]] = {}
    files: list[str] = []
    for name, use in uses.items():
        data = use.model_dump()
        settings = {k: data.pop(k) for k in ("tag", "temperature", "max_tokens") if k in data}
        if settings.get("tag") == name:
            del settings["tag"]
        if (gguf := data.get("gguf")) is not None:
            data["gguf"] = PurePath(gguf).name
            files += [] if gguf in files else [gguf]
        model = ", ".join(f"{k}={v}" for k, v in data.items())
        groups.setdefault(model, []).append(f"{name} ({', '.join(f'{k}={v}' for k, v in settings.items())})")
    lines = [("model", f"{model} — " + "; ".join(roles)) for model, roles in groups.items()]
    return lines + [("model file", path) for path in files]


def table(headers: list[str], rows: list[list[str]], colors: list[str] | None = None, css: str = "",
          row_css: list[str] | None = None, text: tuple[int, ...] = ()) -> str:
    """A table of text (escaped): the first column (with a colour swatch when given) and the `text` columns
    left-aligned, the rest aligned as numbers."""
    def align(i: int) -> str:
        return NUM if i and i not in text else ""

    head = "".join(f"<th{align(i)}>{html.escape(h)}</th>" for i, h in enumerate(headers))
    body = []
    for r, row in enumerate(rows):
        swatch = f'<span class="swatch" style="background:{colors[r]}"></span>' if colors else ""
        cells = [f"<td>{swatch}{html.escape(row[0])}</td>"]
        cells += [f"<td{align(i)}>{html.escape(c)}</td>" for i, c in enumerate(row[1:], 1)]
        klass = f' class="{row_css[r]}"' if row_css and row_css[r] else ""
        body.append(f"<tr{klass}>" + "".join(cells) + "</tr>")
    klass = f' class="{css}"' if css else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def cell(text: str, css: str) -> str:
    """A table cell showing the start of a long text, the whole of it on hover."""
    return f'<td class="{css}" title="{html.escape(text)}">{html.escape(short(text))}</td>'


def word_diff(old: str, new: str) -> str:
    """The change from old to new word by word, as escaped HTML with <del> and <ins>."""
    a, b = re.split(r"(\s+)", old), re.split(r"(\s+)", new)
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(html.escape("".join(a[i1:i2])))
        if op in ("delete", "replace"):
            out.append(f"<del>{html.escape(''.join(a[i1:i2]))}</del>")
        if op in ("insert", "replace"):
            out.append(f"<ins>{html.escape(''.join(b[j1:j2]))}</ins>")
    return "".join(out)

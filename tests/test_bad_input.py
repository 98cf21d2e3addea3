"""Bad input, one case per class: exit status 2 and one line naming the file (or flag), the key and what
was expected; no traceback; nothing written. Whatever can be caught is caught by validate and --dry-run,
before any model call."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import SCENARIO, ScriptedModels, proposal, run, write_scenario
from fakeserver import FakeOpenAI

from redraft.config import Budget, PACKAGE_AGENTS, load_scenario
from redraft.cli import main
from redraft.llm import parse_config_list

SIMPLE = SCENARIO.split("roles:")[0]
INPUTS = '''inputs:\n  - "Refund for shoes bought 10 days ago?"\n  - "Refund for a lamp bought 60 days ago?"\n'''
KEY = "sk-test-BADINPUT-0123456789"
# A model list whose endpoint nobody listens on: every case here must fail before a call is tried.
MODELS = [{"model": "fake-model", "base_url": "http://127.0.0.1:9/v1", "api_key": KEY,
           "tags": ["default", "pe", "exe", "mod", "c1", "c2"], "max_retries": 0}]


def scenario(folder: Path, text: str = SIMPLE, name: str = "refunds.yaml") -> str:
    return str(write_scenario(folder, text, name))


def changed(old: str, new: str, text: str = SIMPLE) -> str:
    assert old in text, old
    return text.replace(old, new)


def models(folder: Path, entries: list[dict] | str = MODELS) -> str:
    path = folder / "models.json"
    path.write_text(entries if isinstance(entries, str) else json.dumps(entries), encoding="utf-8")
    return str(path)


def inputs_file(folder: Path, name: str) -> str:
    return scenario(folder, changed(INPUTS, f"inputs_file: {name}\n"))


def card(folder: Path, name: str, text: str) -> None:
    (folder / "agents").mkdir(exist_ok=True)
    (folder / "agents" / f"{name}.yaml").write_text(text, encoding="utf-8")


TONE = "name: tone\nrole: critic\ndescription: d\nfocus: tone\nrubric: [Warm.]\ntemplates:\n  review: '{review}'\n"


def moderator_without_focus() -> str:
    base = yaml.safe_load((PACKAGE_AGENTS / "moderator.yaml").read_text(encoding="utf-8"))
    del base["templates"]["focus"]
    return yaml.safe_dump(base)


@dataclass
class Case:
    """One bad input: the files it writes, the command line it runs, and what the one line must say."""

    id: str
    setup: Callable[[Path], list[str]]
    says: tuple[str, ...]


def files(folder: Path, **texts: str | bytes) -> None:
    for name, content in texts.items():
        path = folder / name.replace("__", ".")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))


CASES = [
    # --- the scenario file: validate refuses it ------------------------------------------------------
    Case("deep yaml", lambda d: ["validate", scenario(d, "name: x\ntask: " + "[" * 3000 + "]" * 3000)],
         ("refunds.yaml", "nested too deeply", "expected at most 64 levels")),
    Case("deep yaml, parsable", lambda d: ["validate", scenario(d, "name: x\ntask: " + "[" * 70 + "]" * 70)],
         ("refunds.yaml:2: task[0][0]...", "nested too deeply", "expected at most 64 levels")),
    Case("duplicate key", lambda d: ["validate", scenario(d, changed("rounds: 3", "rounds: 3\nrounds: 4"))],
         ("refunds.yaml:14: rounds: duplicate key, also set on line 13", "give each key once")),
    Case("duplicate nested key", lambda d: ["validate", scenario(d, changed("  patience: 2", "  patience: 2\n  patience: 3"))],
         ("refunds.yaml:17: stop.patience: duplicate key, also set on line 16",)),
    Case("name too long for a folder", lambda d: ["run", scenario(d, changed("name: refunds", "name: " + "a" * 300)),
                                                  "--config", models(d)],
         ("refunds.yaml:1: name:", "300 characters long; expected at most 80")),
    Case("name not a folder name", lambda d: ["validate", scenario(d, changed("name: refunds", "name: a/b"))],
         ("refunds.yaml:1: name:", "expected letters, digits")),
    Case("split without train", lambda d: ["validate", scenario(d, SIMPLE + "split: {train: 0, dev: 0, test: 2}\n")],
         ("refunds.yaml:17: split.train: 0 train examples", "expected at least 1")),
    Case("split without dev", lambda d: ["run", scenario(d, SIMPLE + "split: {train: 2, dev: 0, test: 0}\n"), "--dry-run",
                                         "--config", models(d)],
         ("refunds.yaml:17: split.dev: 0 dev examples", "expected at least 1")),
    Case("max_tokens 10^15", lambda d: ["validate", scenario(d, SIMPLE + "max_tokens: 1000000000000000\n")],
         ("refunds.yaml:17: max_tokens:", "less than or equal to 131072")),
    Case("a role's max_tokens 10^15", lambda d: ["validate", scenario(d, SIMPLE + "roles: {clarity: {max_tokens: 1000000000000000}}\n")],
         ("refunds.yaml:17: roles.clarity.max_tokens:", "less than or equal to 131072")),
    Case("seed 10^40", lambda d: ["validate", scenario(d, SIMPLE + "seed: " + "1" + "0" * 40 + "\n")],
         ("refunds.yaml:17: seed:", "less than or equal to 1000000000")),
    # already handled before: they stay so
    Case("broken yaml", lambda d: ["validate", scenario(d, changed("[clarity, fidelity]", "[clarity, fidelity"))],
         ("refunds.yaml:13:", "invalid YAML")),
    Case("unknown key", lambda d: ["validate", scenario(d, changed("rounds: 3", "roundz: 3"))],
         ("refunds.yaml:13: roundz: unknown key; expected one of:",)),
    Case("wrong type", lambda d: ["validate", scenario(d, changed("rounds: 3", "rounds: three"))],
         ("refunds.yaml:13: rounds:", "integer")),
    Case("unknown critic", lambda d: ["validate", scenario(d, changed("[clarity, fidelity]", "[clarity, tone_police]"))],
         ("refunds.yaml:12: critics[1]: unknown critic 'tone_police'; known critics:",)),
    Case("scenario not found", lambda d: ["run", "no_such_scenario"], ("no_such_scenario", "scenario not found", "support_reply")),
    # --- the inputs file ------------------------------------------------------------------------------
    Case("binary inputs file", lambda d: files(d, bin__txt=b"\xff\xfe\x00bad") or ["validate", inputs_file(d, "bin.txt")],
         ("bin.txt", "not UTF-8 text", "expected UTF-8")),
    Case("inputs file without a suffix", lambda d: files(d, inputs="one\n") or ["validate", inputs_file(d, "inputs")],
         ("refunds.yaml:4: inputs_file:", "has no suffix", "expected a file: .txt (one input per line), .jsonl")),
    Case("inputs file of another type", lambda d: files(d, in__md="one\n") or ["validate", inputs_file(d, "in.md")],
         ("refunds.yaml:4: inputs_file: unsupported file type '.md'", ".txt", ".csv")),
    Case("inputs file is a folder", lambda d: (d / "data").mkdir() or ["validate", inputs_file(d, "data")],
         ("refunds.yaml:4: inputs_file: is a folder, not a file", "expected a file: .txt")),
    Case("inputs file is a device", lambda d: ["validate", inputs_file(d, "/dev/null")],
         ("refunds.yaml:4: inputs_file: is not a regular file", "expected a file: .txt")),
    Case("inputs file not found", lambda d: ["validate", inputs_file(d, "data/missing.jsonl")],
         ("refunds.yaml:4: inputs_file: file not found", "missing.jsonl")),
    Case("jsonl input neither object nor string", lambda d: files(d, in__jsonl='"one"\n3\n') or ["validate", inputs_file(d, "in.jsonl")],
         ("in.jsonl:2:", "expected a JSON object or a JSON string per line, got the number 3")),
    # --- the model config -----------------------------------------------------------------------------
    Case("binary model config", lambda d: files(d, models__json=b"\xff[{}]") or
         ["run", scenario(d), "--dry-run", "--config", str(d / "models.json")],
         ("models.json", "not UTF-8 text", "expected UTF-8")),
    Case("model config is a folder", lambda d: (d / "conf").mkdir() or ["validate", scenario(d), "--config", str(d / "conf")],
         ("conf: is a folder; expected a file",)),
    Case("base_url not a URL", lambda d: ["validate", scenario(d), "--config", models(d, [{"model": "m", "base_url": "localhost:11434/v1"}])],
         ("models.json: [0].base_url: 'localhost:11434/v1' is not a URL; expected http:// or https://",)),
    Case("openai entry without a key", lambda d: ["validate", scenario(d), "--config", models(d, [{"model": "gpt-4o-mini"}])],
         ("models.json: [0].api_key: model 'gpt-4o-mini' needs an API key", "OPENAI_API_KEY")),
    Case("key with a line break inside", lambda d: ["validate", scenario(d), "--config",
                                                    models(d, [{"model": "m", "api_key": "sk-one\ntwo"}])],
         ("models.json: [0].api_key:", "line break", "expected the API key alone")),
    Case("junk model_info value", lambda d: ["validate", scenario(d), "--config",
                                             models(d, [{**MODELS[0], "model_info": {"structured_output": "sure"}}])],
         ("models.json: [0].model_info.structured_output:", "valid boolean")),
    Case("unknown model_info key", lambda d: ["validate", scenario(d), "--config",
                                              models(d, [{**MODELS[0], "model_info": {"vison": True}}])],
         ("models.json: [0].model_info.vison: unknown key; expected one of: vision",)),
    Case("duplicate entry key", lambda d: ["validate", scenario(d), "--config",
                                           models(d, '[{"model": "a", "base_url": "http://h/v1", "model": "b"}]')],
         ("models.json: the key 'model' is given twice in one entry; give each key once",)),
    Case("unknown entry key", lambda d: ["run", scenario(d), "--config", models(d, [{"model": "x", "apikey": "oops"}])],
         ("models.json: [0].apikey: unknown key",)),
    # --- agent cards: validate, --dry-run and run ----------------------------------------------------
    *(Case(f"card with an unknown variable ({' '.join(cmd)})",
           lambda d, cmd=cmd: card(d, "tone", TONE.format(review="Rate the $tone of $outputs")) or [*cmd, scenario(d)],
           ("agents/tone.yaml: templates.review: template variable $tone is not provided; available:",))
      for cmd in (["validate"], ["run", "--dry-run"], ["run"])),
    *(Case(f"card without a template its role needs ({' '.join(cmd)})",
           lambda d, cmd=cmd: card(d, "moderator", moderator_without_focus()) or [*cmd, scenario(d)],
           ("agents/moderator.yaml: templates.focus: the template is missing; a moderator card has the templates: focus",))
      for cmd in (["validate"], ["run", "--dry-run"], ["run"])),
    *(Case(f"card with a bare $5 ({' '.join(cmd)})",
           lambda d, cmd=cmd: card(d, "tone", TONE.format(review="Costs $5. $outputs $reply_shape")) or [*cmd, scenario(d)],
           ("agents/tone.yaml: templates.review: a $ not followed by a variable name ('$5.'", "$$ for a dollar sign"))
      for cmd in (["validate"], ["run", "--dry-run"], ["run"])),
    # --- the command line: checked against the scenario's own bounds ----------------------------------
    *(Case(f"--rounds {n} ({' '.join(cmd)})", lambda d, n=n, cmd=cmd: [*cmd, scenario(d), "--rounds", str(n), "--config", models(d)],
           ("--rounds: expected a value", f"got {n}"))
      for n in (0, -2, 100000) for cmd in (["run", "--dry-run"], ["run"])),
    Case("--max-calls 0", lambda d: ["run", scenario(d), "--max-calls", "0", "--config", models(d)],
         ("--max-calls: expected a value greater than or equal to 1, got 0",)),
    Case("--max-calls -5", lambda d: ["run", scenario(d), "--dry-run", "--max-calls", "-5", "--config", models(d)],
         ("--max-calls: expected a value greater than or equal to 1, got -5",)),
    Case("--max-tokens 0", lambda d: ["run", scenario(d), "--max-tokens", "0", "--config", models(d)],
         ("--max-tokens: expected a value greater than or equal to 1, got 0",)),
    Case("--max-usd -1", lambda d: ["run", scenario(d), "--max-usd", "-1", "--config", models(d)],
         ("--max-usd: expected a value greater than 0, got -1",)),
    Case("--review-timeout 0", lambda d: ["run", scenario(d), "--review", "--review-timeout", "0", "--config", models(d)],
         ("--review-timeout: expected a value greater than 0, got 0",)),
    Case("--max-usd without a price", lambda d: ["run", scenario(d), "--max-usd", "1", "--config", models(d)],
         ("--max-usd: cost cannot be tracked: model 'fake-model' (tag 'default') has no price in", "models.json",
          'add "price"')),
    Case("budget.max_usd without a price", lambda d: ["validate", scenario(d, SIMPLE + "budget: {max_usd: 2}\n"), "--config", models(d)],
         ("refunds.yaml:17: budget.max_usd: cost cannot be tracked", "models.json")),
    *(Case(f"--runs-dir is a file ({' '.join(cmd)})", lambda d, cmd=cmd: files(d, taken="x") or
           [*cmd, scenario(d), "--runs-dir", str(d / "taken"), "--config", models(d)],
           ("--runs-dir:", "taken is a file; expected a folder"))
      for cmd in (["run", "--dry-run"], ["run"])),
    Case("--runs-dir inside a file", lambda d: files(d, taken="x") or
         ["run", scenario(d), "--runs-dir", str(d / "taken" / "runs"), "--config", models(d)],
         ("--runs-dir:", "is inside", "which is a file; expected a folder")),
    Case("--cache-dir is a file", lambda d: files(d, taken="x") or
         ["run", scenario(d), "--cache-dir", str(d / "taken"), "--config", models(d)],
         ("--cache-dir:", "taken is a file; expected a folder")),
    Case("compare --out is a file", lambda d: files(d, taken="x") or
         ["compare", "ticket_routing", "--out", str(d / "taken"), "--config", models(d)],
         ("--out:", "taken is a file; expected a folder")),
    Case("compare --rounds 0", lambda d: ["compare", "ticket_routing", "--rounds", "0", "--config", models(d)],
         ("--rounds: expected a value greater than or equal to 1, got 0",)),
    Case("compare --repeats 0", lambda d: ["compare", "ticket_routing", "--repeats", "0", "--config", models(d)],
         ("--repeats must be at least 1, got 0",)),
]


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under root, with a hash of each file's contents."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder"
            for p in root.rglob("*")}


def check_one_clean_line(code: int, err: str, says: tuple[str, ...]) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in says:
        assert needle in lines[0], lines[0]
    assert KEY not in err


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clear_line_and_writes_nothing(isolated: Path, case: Case, capsys: pytest.CaptureFixture[str]) -> None:
    argv = case.setup(isolated)
    before = snapshot(isolated)
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    check_one_clean_line(code, err, case.says)
    assert snapshot(isolated) == before, "a refused command wrote files"
    assert not out.strip(), out


# --- resume: the same checks, on a run stopped at a budget cap -----------------------------------------


@pytest.fixture
def stopped_run(isolated: Path) -> Path:
    path = write_scenario(isolated)
    script = ScriptedModels({"pe": [proposal("Be polite.")], "exe": [], "c1": [], "c2": [], "mod": []})
    out = run(path, script, budget=Budget(max_calls=1))
    assert out.summary.stop_reason.startswith("budget cap reached")
    return out.run_dir.path


def broken_card(run_dir: Path) -> None:
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    config["cards"]["moderator"]["templates"]["focus"] = "Fix $weakest for $customer"
    (run_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")


@pytest.mark.parametrize("flags, says", [
    (["--max-calls", "0"], ("--max-calls: expected a value greater than or equal to 1, got 0",)),
    (["--rounds", "0"], ("--rounds: expected a value greater than or equal to 1, got 0",)),
    (["--rounds", "100000"], ("--rounds: expected a value less than or equal to 100, got 100000",)),
    ("broken card", ("config.json: cards.moderator.templates.focus: template variable $customer is not provided",)),
], ids=["max-calls 0", "rounds 0", "rounds 100000", "a card config.json holds"])
def test_resume_refuses_bad_input_before_any_call(isolated: Path, stopped_run: Path, capsys: pytest.CaptureFixture[str],
                                                  flags: list[str] | str, says: tuple[str, ...]) -> None:
    if flags == "broken card":
        broken_card(stopped_run)
        flags = []
    argv = ["resume", str(stopped_run), "--config", models(isolated), *flags]
    before = snapshot(isolated)
    capsys.readouterr()
    code = main(argv)
    check_one_clean_line(code, capsys.readouterr().err, says)
    assert snapshot(isolated) == before


# --- a few as a user runs them: a separate process --------------------------------------------------


def redraft(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OAI_CONFIG_LIST", "OPENAI_API_KEY", "REDRAFT_DEBUG")}
    env["HOME"] = str(cwd / "home")
    return subprocess.run([sys.executable, "-m", "redraft.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("case", [c for c in CASES if c.id in ("deep yaml", "binary inputs file", "--max-calls 0",
                                                                "openai entry without a key")],
                         ids=lambda c: c.id)
def test_bad_input_in_a_process_of_its_own(isolated: Path, case: Case) -> None:
    argv = case.setup(isolated)
    before = snapshot(isolated)
    proc = redraft(*argv, cwd=isolated)
    check_one_clean_line(proc.returncode, proc.stderr, case.says)
    assert snapshot(isolated) == before


def test_a_dotenv_that_is_not_text(isolated: Path) -> None:
    files(isolated, __env=b"\xff\xfeKEY=1\n")
    proc = redraft("validate", scenario(isolated), cwd=isolated)
    check_one_clean_line(proc.returncode, proc.stderr, (".env: the file is not UTF-8 text", "expected UTF-8"))


def test_debug_shows_the_traceback(isolated: Path) -> None:
    proc = redraft("--debug", "validate", scenario(isolated, changed("rounds: 3", "rounds: 3\nrounds: 4")), cwd=isolated)
    assert proc.returncode == 2 and "Traceback" in proc.stderr and "duplicate key" in proc.stderr


CHECKS = "def score(output, target):\n    return 2  # not a score from 0 to 1\n"
LABELED = changed(INPUTS, "metric: {type: python, function: checks.py:score}\nsplit: {train: 4, dev: 2, test: 0}\n"
                  "search: {drafts: 1, candidates: 1}\nexamples:\n"
                  + "".join(f"  - {{input: 'Refund after {d} days?', target: {'approve' if d <= 30 else 'deny'}}}\n"
                            for d in range(5, 35, 5)))


def test_a_python_metric_failing_on_every_example_stops_the_run_and_says_so(isolated: Path) -> None:
    files(isolated, checks__py=CHECKS)
    path = scenario(isolated, LABELED)
    with FakeOpenAI() as srv:
        cfg = models(isolated, [{**MODELS[0], "base_url": srv.base_url}])
        before = snapshot(isolated)
        proc = redraft("run", path, "--config", cfg, "--no-cache", cwd=isolated)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "refunds.yaml:4: metric.function: failed on every example of round 1" in last
    assert "score 2.0 is outside 0..1" in last and "expected a function fn(output, target)" in last
    assert "Metric errors on 6 of 6 examples" in proc.stdout  # the evaluator's message, as it streamed
    run_dir = next((isolated / "runs").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["stop_reason"].startswith("the metric failed on every example of round 1")
    assert len(summary["rounds"]) == 1 and summary["rounds"][0]["metric_errors"] == 6
    assert "outside 0..1" in summary["rounds"][0]["metric_error"]
    transcript = (run_dir / "transcript.jsonl").read_text(encoding="utf-8")
    assert "Metric errors on 6 of 6 examples" in transcript
    after = snapshot(isolated)
    assert {k: v for k, v in after.items() if not k.startswith("runs")} == before  # no __pycache__ beside checks.py


# --- what the README allows is accepted ----------------------------------------------------------------


def test_jsonl_inputs_may_be_plain_strings(isolated: Path) -> None:
    files(isolated, in__jsonl='"one"\n{"input": "two"}\n')
    assert load_scenario(inputs_file(isolated, "in.jsonl")).task_inputs == ["one", "two"]


def test_a_key_copied_with_a_line_break_is_used_without_it(isolated: Path) -> None:
    entry = parse_config_list(json.dumps([{"model": "m", "api_key": " sk-abc123\n"}]), "cfg")[0]
    assert entry.api_key is not None and entry.api_key.get_secret_value() == "sk-abc123"

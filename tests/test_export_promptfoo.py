"""`redraft export --format promptfoo` runs as handed (issue 27: 1-3, and 4's key variable): the metric is a
standalone assertion whose pass or fail is redraft's own score, the provider names the run's endpoint and key
variable as promptfoo reads them, a rubric carries the test's input; and the python export reads the run's own
key variable. promptfoo itself is not needed: its two steps on an assertion (nunjucks, then wrapping the code in
a function) are done here as it does them, and the code runs on the system Python with nothing installed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import SCENARIO, write_scenario
from fakeserver import FakeOpenAI
from test_compare import sentiment_models, sentiment_scenario
from test_export import SENTINEL_KEY, rubric_run

from redraft import RunOptions, run_scenario
from redraft.config import MetricSpec, build_metric
from redraft.export import export_run

SYSTEM_PYTHON = shutil.which("python3") or sys.executable

# What promptfoo's nunjucks reads in an assertion value: a raw block, the "{%" literal _raw writes between two,
# a variable; any other tag opener would be a template error or a silent change.
_NUNJUCKS = re.compile(r"\{% raw %\}(.*?)\{% endraw %\}|(\{\{ '\{%' \}\})|\{\{\s*(\w+)\s*\}\}|(\{[{%#])", re.S)


def nunjucks(text: str, variables: dict[str, str]) -> str:
    """An assertion value as promptfoo renders it with the test's vars, for the constructs the export writes."""
    def one(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return m.group(1)
        if m.group(2):
            return "{%"
        if m.group(3):
            return variables[m.group(3)]
        raise AssertionError(f"nunjucks would read {m.group(4)!r} at {m.start()} as a tag: {text[m.start():][:60]!r}")

    return _NUNJUCKS.sub(one, text)


def promptfoo_script(code: str) -> str:
    """The module promptfoo writes for an inline python assertion (assertions/python.ts, buildPythonScript)."""
    indent = m.group(0) if (m := re.search(r"^(?!\s*$)\s+", code, re.M)) else "    "
    body = "\n".join(indent + line for line in code.split("\n")) if "\n" in code else f"    return {code}"
    return f"import json\n\ndef main(output, context):\n{body}\n"


def run_assertion(value: str, cases: list[tuple[str, str]], cwd: Path) -> list[dict[str, Any]]:
    """The exported python assertion's verdict on each (output, expected), on the system Python in isolated mode
    without site-packages: nothing installed can help it."""
    scripts = cwd / "scripts"
    scripts.mkdir(exist_ok=True)
    for i, (_, expected) in enumerate(cases):  # rendered per test, as promptfoo does with each test's vars
        (scripts / f"case{i}.py").write_text(promptfoo_script(nunjucks(value, {"expected": expected})))
    driver = cwd / "driver.py"
    driver.write_text(
        "import importlib.util, json, sys\n"
        "cases = json.load(sys.stdin)\n"
        "out = []\n"
        "for i, (output, expected) in enumerate(cases):\n"
        "    spec = importlib.util.spec_from_file_location(f'case{i}', f'scripts/case{i}.py')\n"
        "    module = importlib.util.module_from_spec(spec)\n"
        "    spec.loader.exec_module(module)\n"
        "    out.append(module.main(output, {'vars': {'input': 'x', 'expected': expected}}))\n"
        "print(json.dumps(out))\n")
    proc = subprocess.run([SYSTEM_PYTHON, "-I", "-S", str(driver)], input=json.dumps(cases), cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def header(export: str) -> str:
    """The comment lines at the top of an export, unwrapped."""
    return " ".join(line[2:] for line in export.splitlines() if line.startswith("# "))


@pytest.fixture
def labeled_run(isolated: Path) -> Path:
    """A finished labeled run (label metric, positive/negative), made offline on scripted models."""
    from conftest import run

    return run(sentiment_scenario(isolated, rounds=1), sentiment_models()).run_dir.path


def with_metric(run_dir: Path, metric: dict[str, Any]) -> str:
    """The run's promptfoo export, had its scenario used this metric."""
    recorded = json.loads((run_dir / "config.json").read_text())
    recorded["scenario"]["metric"] = metric
    (run_dir / "config.json").write_text(json.dumps(recorded))
    return export_run(run_dir, "promptfoo")


LABEL = {"type": "label", "labels": ["positive", "negative"]}
CASES: dict[str, tuple[dict[str, Any], list[tuple[str, str]]]] = {
    "label": (LABEL, [
        ("Positive.", "positive"), ("Answer: negative", "positive"), ("It is not negative, it's positive", "positive"),
        ("not positive", "positive"), ("NEGATIVE!!", "negative"), ("Ｐｏｓｉｔｉｖｅ", "positive"), ("", "positive"),
        ("Sentiment: positive\nFinal answer: negative", "negative"), ("{{positive}}", "positive"),
        ("I'd say positive, but really negative", "negative"), ("neutral", "negative")]),
    "exact": ({"type": "exact"}, [
        ("  Hello,   World! ", "hello world"), ("Straße", "STRASSE"), ("hello world.", "hello"), ("Café", "cafe"),
        ("ｆｕｌｌ", "full"), ("it's", "its"), ("", "")]),
    "exact, case-sensitive": ({"type": "exact", "case_sensitive": True}, [("Paris", "Paris"), ("paris", "Paris")]),
    "contains": ({"type": "contains"}, [
        ("The answer is Paris, France.", "paris"), ("Parisian food", "paris"), ("", "x"), ("x", ""),
        ("I love New York City", "new york"), ("NEW-YORK", "new york")]),
    "regex with a group": ({"type": "regex", "pattern": r"answer:\s*(\w+)"}, [
        ("Answer: Blue", "blue"), ("answer: red", "blue"), ("no answer here", "blue"), ("ANSWER:blue!", "Blue")]),
    "regex without a group": ({"type": "regex", "pattern": r"\d{3}-\d{4}", "case_sensitive": True}, [
        ("call 555-1234", "x"), ("call 5551234", "x"), ("５５５-１２３４", "x")]),
    "regex with nunjucks in it": ({"type": "regex", "pattern": r"\{#(\d+)\}|\{\{(x)\}\}|\{%(y)"}, [
        ("ticket {#42}", "42"), ("ticket {#41}", "42"), ("{{x}}", "x"), ("{%y", "y")]),
    "numeric": ({"type": "numeric", "tolerance": 0.01}, [
        ("#### 42", "42"), ("The answer is 3.14159", "3.14"), ("The answer is 3.16", "3.14"), ("1,234 apples", "1234"),
        ("-5", "5"), ("1/2", "0.5"), ("$1,000.50", "1000.5"), ("٣", "3"), ("no number", "1"), ("42", "none"),
        ("answer: 7\nthen 8 more", "7"), ("1e3", "1000"), ("3 apples, 4 pears", "3")]),
    "numeric, relative": ({"type": "numeric", "tolerance": 0, "relative_tolerance": 0.05}, [
        ("104", "100"), ("106", "100"), ("0", "0"), ("-96", "-100")]),
}


@pytest.mark.parametrize("kind", CASES, ids=list(CASES))
def test_the_exported_metric_passes_exactly_when_redraft_scores_1(labeled_run: Path, isolated: Path, kind: str) -> None:
    metric, cases = CASES[kind]
    config = yaml.safe_load(with_metric(labeled_run, metric))
    values = {check["value"] for t in config["tests"] for check in t["assert"]}
    (value,) = values  # one assertion, the same for every test
    assert all(check["type"] == "python" for t in config["tests"] for check in t["assert"])
    assert not re.search(r"^\s*(import|from)\s+redraft\b", value, re.M) and str(isolated) not in value  # nothing to install

    redraft = build_metric(MetricSpec.model_validate(metric))
    want = [redraft(output, target).score >= 1 for output, target in cases]
    got = run_assertion(value, cases, isolated)
    assert [g["pass"] for g in got] == want, list(zip(cases, got))
    assert [g["score"] for g in got] == [redraft(o, t).score for o, t in cases]
    assert len(set(want)) == 2  # some pass and some fail: agreeing on one verdict would prove little


def test_the_labeled_header_says_how_the_metric_runs(labeled_run: Path) -> None:
    text = export_run(labeled_run, "promptfoo")
    head = header(text)
    assert "run's metric (label) as inline Python: redraft's own scoring code, standard library only" in head
    assert "python3 (3.10 or newer; or set PROMPTFOO_PYTHON)" in head and "PROMPTFOO_PYTHON=/path" not in head
    variables = [t["vars"] for t in yaml.safe_load(text)["tests"]]
    assert variables and all(set(v) == {"input", "expected"} for v in variables)


CHECKS = '''\
def score(output, target):
    if output == "boom":
        raise RuntimeError("cannot read it")
    if output == "half":
        return 0.5, "half right"
    return {"score": float(output.strip().lower() == target), "feedback": "compared"}
'''


def test_a_users_own_metric_function_is_loaded_where_promptfoo_runs_or_says_what_to_copy(labeled_run: Path,
                                                                                       isolated: Path) -> None:
    (isolated / "sentiment_checks.py").write_text(CHECKS)
    text = with_metric(labeled_run, {"type": "python", "function": "sentiment_checks.py:score"})
    head = header(text)
    assert ("The run's metric is your own Python function sentiment_checks.py:score, which this file cannot carry"
            in head and "copy sentiment_checks.py (from the scenario's folder) into the folder you run promptfoo in"
            in head), head
    (value,) = {c["value"] for t in yaml.safe_load(text)["tests"] for c in t["assert"]}

    elsewhere = isolated / "elsewhere"
    elsewhere.mkdir()
    (missing,) = run_assertion(value, [("positive", "positive")], elsewhere)
    assert not missing["pass"] and missing["score"] == 0
    assert "cannot load the run's metric sentiment_checks.py:score" in missing["reason"]
    assert "copy it into the folder you run promptfoo in" in missing["reason"]

    cases = [("positive", "positive"), ("Positive ", "positive"), ("negative", "positive"), ("half", "positive"),
             ("boom", "positive")]
    redraft = build_metric(MetricSpec(type="python", function="sentiment_checks.py:score"), base_dir=isolated)
    got = run_assertion(value, cases, isolated)
    assert [(g["pass"], g["score"]) for g in got] == [(r.score >= 1, r.score) for r in (redraft(*c) for c in cases)]
    assert got[4]["reason"] == "metric error: RuntimeError: cannot read it" and got[3]["reason"] == "half right"


def test_the_rubric_carries_each_tests_input_and_keeps_the_criterias_braces(isolated: Path) -> None:
    run_dir = rubric_run(isolated)
    recorded = json.loads((run_dir / "config.json").read_text())
    recorded["scenario"]["task"] = "Answer a refund request; never write {{ or {% end" + "raw %} in a reply."
    (run_dir / "config.json").write_text(json.dumps(recorded))
    text = export_run(run_dir, "promptfoo")
    config = yaml.safe_load(text)
    assert "with the test's input in the rubric" in text
    for t in config["tests"]:
        (check,) = t["assert"]
        assert check["type"] == "llm-rubric"
        rubric = nunjucks(check["value"], t["vars"])  # what the grader is sent, beside the output
        assert rubric.endswith("The input:\n" + t["vars"]["input"])
        assert "does this task: " + recorded["scenario"]["task"] + "\n" in rubric
        assert "- policy: Follows the 30-day policy." in rubric


def one_model_run(isolated: Path, srv: FakeOpenAI, entry: dict[str, Any]) -> Path:
    """A one-round run of the refund scenario, every role on one model entry for the fake server."""
    path = write_scenario(isolated, SCENARIO.split("roles:")[0].replace("rounds: 3", "rounds: 1"))
    cfg = isolated / "models.json"
    cfg.write_text(json.dumps([{"model": "fake-model", "base_url": srv.base_url, **entry}]))
    return run_scenario(str(path), RunOptions(config=str(cfg), runs_dir=Path("runs").absolute(), no_cache=True)).run_dir.path


def endpoint_settings(provider: dict[str, Any]) -> dict[str, Any]:
    """A promptfoo provider's config without the sampling settings."""
    return {k: v for k, v in provider["config"].items() if k not in ("temperature", "max_tokens")}


def test_the_run_records_its_key_variables_name_and_the_exports_read_it(isolated: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAI() as srv:
        monkeypatch.setenv("VLLM_API_KEY", SENTINEL_KEY)
        run_dir = one_model_run(isolated, srv, {"api_key": "${VLLM_API_KEY}"})
        monkeypatch.delenv("VLLM_API_KEY")
        for name in ("config.json", "summary.json"):
            text = (run_dir / name).read_text()
            assert '"api_key_env": "VLLM_API_KEY"' in text and SENTINEL_KEY not in text

        export = export_run(run_dir, "promptfoo")
        assert "{{ env." not in export and SENTINEL_KEY not in export
        assert f"Set VLLM_API_KEY to the key for {srv.base_url}: the run read it from VLLM_API_KEY (no key is written" \
               f" here)." in header(export)
        config = yaml.safe_load(export)
        for provider in (config["providers"][0], config["defaultTest"]["options"]["provider"]):
            assert endpoint_settings(provider) == {"apiBaseUrl": srv.base_url, "apiKeyEnvar": "VLLM_API_KEY"}

        # The python export reads the same variable, and says so when it is not set.
        snippet = isolated / "snippet.py"
        snippet.write_text(export_run(run_dir, "python"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        before = len(srv.requests)
        proc = subprocess.run([sys.executable, str(snippet), "Refund?"], env=env | {"VLLM_API_KEY": "user-key"},
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and proc.stdout.strip() == "A polite answer.", proc.stderr
        assert [{k.lower(): v for k, v in h.items()}["authorization"] for h in srv.headers[before:]] == ["Bearer user-key"]
        proc = subprocess.run([sys.executable, str(snippet), "Refund?"], env=env | {"OPENAI_API_KEY": "other"},
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"set VLLM_API_KEY to the API key for {srv.base_url}"


def test_a_run_with_no_key_variable_sends_no_key_unless_one_is_set(isolated: Path) -> None:
    # The key written inline (never copied), or a run made before the variable was recorded: nothing names a
    # variable, so promptfoo must not demand one.
    with FakeOpenAI() as srv:
        run_dir = one_model_run(isolated, srv, {"api_key": SENTINEL_KEY})
    export = export_run(run_dir, "promptfoo")
    (provider,) = yaml.safe_load(export)["providers"]
    assert endpoint_settings(provider) == {"apiBaseUrl": srv.base_url, "apiKeyRequired": False}
    assert (f"The run read no key variable for {srv.base_url}: set OPENAI_API_KEY if that server needs a key (none"
            " is sent otherwise)." in header(export))
    assert SENTINEL_KEY not in export + export_run(run_dir, "python")


def test_an_embedded_run_points_promptfoo_at_a_local_server_it_can_start(isolated: Path) -> None:
    run_dir = rubric_run(isolated)
    recorded = json.loads((run_dir / "config.json").read_text())
    for seat in ("task_executor", "clarity"):
        recorded["models"][seat].update(api_type="embedded", gguf="/models/small.gguf")
    (run_dir / "config.json").write_text(json.dumps(recorded))
    export = export_run(run_dir, "promptfoo")
    config = yaml.safe_load(export)
    for provider in (config["providers"][0], config["defaultTest"]["options"]["provider"]):
        assert endpoint_settings(provider) == {"apiBaseUrl": "http://127.0.0.1:8080/v1", "apiKeyRequired": False,
                                               **({"response_format": provider["config"].get("response_format")}
                                                  if "response_format" in provider["config"] else {})}
    assert "{{ env." not in export
    assert "serve it at http://127.0.0.1:8080/v1 with llama.cpp's `llama-server -m FILE --port 8080`" in header(export)


def test_the_key_variable_is_named_only_when_one_variable_holds_the_whole_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from redraft.llm.endpoints import parse_config_list

    monkeypatch.setenv("K", "sk-1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-2")
    entries = parse_config_list('[{"model": "a", "api_key": " ${K} "}, {"model": "b", "api_key": "x-${K}"}, '
                                '{"model": "c"}, {"model": "d", "api_key": "sk-3"}]', "cfg")
    assert [e.describe().api_key_env for e in entries] == ["K", None, "OPENAI_API_KEY", None]
    monkeypatch.delenv("OPENAI_API_KEY")
    (local,) = parse_config_list('[{"model": "e", "base_url": "http://127.0.0.1:1/v1"}]', "cfg")
    assert local.describe().api_key_env is None and "api_key_env" not in local.describe().model_dump()


@pytest.mark.parametrize("recorded, reads", [
    ({"api_type": "openai", "base_url": "http://gpu:8000/v1", "api_key_env": "VLLM_API_KEY"}, "setting('VLLM_API_KEY'"),
    ({"api_type": "openai", "base_url": "http://gpu:8000/v1"}, 'os.environ.get("OPENAI_API_KEY", "not-needed")'),
    ({"api_type": "openai", "api_key_env": "MY_OPENAI"}, "setting('MY_OPENAI'"),
    ({"api_type": "openai"}, "setting('OPENAI_API_KEY'"),
    ({"api_type": "azure", "base_url": "https://x.openai.azure.com", "api_key_env": "AZ_KEY"}, "api_key=setting('AZ_KEY'"),
    ({"api_type": "azure", "base_url": "https://x.openai.azure.com"}, "api_key=setting('AZURE_OPENAI_API_KEY'"),
    ({"api_type": "embedded", "gguf": "/m/small.gguf"}, 'api_key="not-needed"'),
], ids=["server, variable", "server, no variable", "openai, variable", "openai, old run", "azure, variable",
        "azure, old run", "embedded"])
def test_the_python_export_reads_the_runs_key_variable(isolated: Path, recorded: dict[str, Any], reads: str) -> None:
    run_dir = rubric_run(isolated)
    config = json.loads((run_dir / "config.json").read_text())
    seat = config["models"]["task_executor"]
    config["models"]["task_executor"] = {k: seat[k] for k in ("tag", "temperature", "max_tokens", "model")} | recorded
    (run_dir / "config.json").write_text(json.dumps(config))
    snippet = export_run(run_dir, "python")
    compile(snippet, "snippet.py", "exec")
    assert reads in snippet
    named = recorded.get("api_key_env")
    provider = yaml.safe_load(export_run(run_dir, "promptfoo"))["providers"][0]["config"]
    assert provider.get("apiKeyEnvar") == named and "apiKey" not in provider

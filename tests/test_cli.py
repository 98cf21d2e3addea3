"""The CLI as a user meets it: clear errors for bad input, no tracebacks, a run over HTTP."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SCENARIO, write_scenario
from fakeserver import FakeOpenAI, status_fault

SENTINEL_KEY = "sk-test-SENTINEL-0123456789abcdef"


def redraft(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    full_env = {k: v for k, v in os.environ.items() if k not in ("OAI_CONFIG_LIST", "OPENAI_API_KEY")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "redraft.cli", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=120)


def assert_clean_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in proc.stderr, proc.stderr


def config_for(base_url: str, path: Path, **extra: object) -> Path:
    entries = [{"model": "fake-model", "base_url": base_url, "api_key": SENTINEL_KEY, "tags": ["default", "fast"],
                "max_retries": 0, "timeout": 5, **extra}]
    path.write_text(json.dumps(entries))
    return path


SIMPLE = SCENARIO.split("roles:")[0]


def test_broken_yaml_names_file_and_line(isolated: Path) -> None:
    path = write_scenario(isolated, SIMPLE.replace("critics: [clarity, fidelity]", "critics: [clarity, fidelity"))
    proc = redraft("validate", str(path), cwd=isolated)
    assert_clean_error(proc, "refunds.yaml:", "invalid YAML")
    assert "refunds.yaml:13:" in proc.stderr  # the parser notices the unclosed list on the next line


def test_unknown_key_names_key_and_expected_keys(isolated: Path) -> None:
    path = write_scenario(isolated, SIMPLE.replace("rounds: 3", "rounds: 3\nroundz: 4"))
    proc = redraft("run", str(path), cwd=isolated)
    assert_clean_error(proc, "refunds.yaml:14: roundz: unknown key; expected one of:", "rounds")
    assert not (isolated / "runs").exists()  # nothing half-started


def test_unknown_key_in_nested_block(isolated: Path) -> None:
    path = write_scenario(isolated, SIMPLE.replace("  patience: 2", "  patience: 2\n  patiense: 3"))
    assert_clean_error(redraft("validate", str(path), cwd=isolated), "stop.patiense: unknown key", "target_score")


def test_wrong_type_says_what_was_expected(isolated: Path) -> None:
    path = write_scenario(isolated, SIMPLE.replace("rounds: 3", "rounds: three"))
    assert_clean_error(redraft("validate", str(path), cwd=isolated), "refunds.yaml:13: rounds:", "integer")


def test_unknown_critic_lists_known_critics(isolated: Path) -> None:
    path = write_scenario(isolated, SIMPLE.replace("critics: [clarity, fidelity]", "critics: [clarity, tone_police]"))
    assert_clean_error(redraft("run", str(path), cwd=isolated),
                       "refunds.yaml:12: critics[1]: unknown critic 'tone_police'; known critics: clarity, fidelity, format")


def test_unknown_model_tag_lists_known_tags(isolated: Path) -> None:
    path = write_scenario(isolated, SIMPLE + "roles:\n  clarity: {model: gpt5}\n")
    cfg = config_for("http://127.0.0.1:9/v1", isolated / "models.json")
    proc = redraft("run", str(path), "--config", str(cfg), cwd=isolated)
    assert_clean_error(proc, "roles.clarity.model: unknown model tag 'gpt5'; known tags: default, fast, fake-model")


def test_missing_inputs_file(isolated: Path) -> None:
    text = SIMPLE.replace('inputs:\n  - "Refund for shoes bought 10 days ago?"\n  - "Refund for a lamp bought 60 days ago?"\n',
                          "inputs_file: data/missing.jsonl\n")
    path = write_scenario(isolated, text)
    assert_clean_error(redraft("validate", str(path), cwd=isolated), "inputs_file: file not found:", "missing.jsonl")


def test_missing_scenario_lists_examples(isolated: Path) -> None:
    assert_clean_error(redraft("run", "no_such_scenario", cwd=isolated), "scenario not found", "support_reply")


def test_bad_model_config(isolated: Path) -> None:
    path = write_scenario(isolated, SIMPLE)
    cfg = isolated / "models.json"
    cfg.write_text('[{"model": "x", "apikey": "oops"}]')
    assert_clean_error(redraft("run", str(path), "--config", str(cfg), cwd=isolated), "models.json: [0].apikey: unknown key")


def test_unreachable_endpoint_is_a_clear_error_without_the_key(isolated: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = write_scenario(isolated, SIMPLE)
    cfg = config_for(f"http://127.0.0.1:{port}/v1", isolated / "models.json")
    proc = redraft("run", str(path), "--config", str(cfg), "--quiet", cwd=isolated)
    assert_clean_error(proc, f"cannot reach model 'fake-model' (tag 'default') at http://127.0.0.1:{port}/v1")
    assert SENTINEL_KEY not in proc.stderr + proc.stdout
    run = next((isolated / "runs").iterdir())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stop_reason"].startswith("error: cannot reach")


def test_run_over_http_through_oai_config_list_env(isolated: Path) -> None:
    path = write_scenario(isolated, SIMPLE.replace("rounds: 3", "rounds: 2"))
    with FakeOpenAI() as srv:
        srv.faults.append(status_fault(500))  # one server error: retried by the client, the run goes on
        entries = json.dumps([{"model": "fake-model", "base_url": srv.base_url, "api_key": "${MY_KEY}", "max_retries": 2}])
        proc = redraft("run", str(path), cwd=isolated, env={"OAI_CONFIG_LIST": entries, "MY_KEY": SENTINEL_KEY})
    assert proc.returncode == 0, proc.stderr
    assert "Round 2" in proc.stdout and "Final prompt" in proc.stdout and "round limit reached (2)" in proc.stdout
    auth = [{k.lower(): v for k, v in h.items()}.get("authorization") for h in srv.headers]
    assert auth and all(a == f"Bearer {SENTINEL_KEY}" for a in auth)
    assert srv.requests[0]["model"] == "fake-model"
    run = next((isolated / "runs").iterdir())
    for f in run.rglob("*"):
        if f.is_file():
            assert SENTINEL_KEY not in f.read_text(errors="replace"), f
    summary = json.loads((run / "summary.json").read_text())
    assert summary["best_score"] == 7.0 and summary["models"]["moderator"]["base_url"] == srv.base_url


def test_validate_ok_and_scenarios_list(isolated: Path) -> None:
    proc = redraft("validate", "ticket_routing", cwd=isolated)
    assert proc.returncode == 0 and "OK:" in proc.stdout
    listing = redraft("scenarios", cwd=isolated)
    for name in ("support_reply", "product_description", "ticket_routing"):
        assert name in listing.stdout


@pytest.mark.parametrize("command", ["run", "validate", "scenarios", "report"])
def test_help_is_written_for_a_first_time_user(isolated: Path, command: str) -> None:
    proc = redraft(command, "--help", cwd=isolated)
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) > 4


def test_version_names_the_installed_release(isolated: Path) -> None:
    from importlib.metadata import version

    proc = redraft("--version", cwd=isolated)
    assert proc.returncode == 0 and proc.stdout.strip() == f"redraft {version('redraft')}" and not proc.stderr


def test_fail_under_gates_a_run_on_its_score(isolated: Path) -> None:
    path = write_scenario(isolated, SIMPLE.replace("rounds: 3", "rounds: 1"))
    with FakeOpenAI() as srv:
        entries = json.dumps([{"model": "fake-model", "base_url": srv.base_url, "api_key": "${MY_KEY}"}])
        env = {"OAI_CONFIG_LIST": entries, "MY_KEY": SENTINEL_KEY}
        first = redraft("run", str(path), "--quiet", "--no-cache", cwd=isolated, env=env)
        assert first.returncode == 0, first.stderr
        best = json.loads((next((isolated / "runs").iterdir()) / "summary.json").read_text())["best_score"]
        above = redraft("run", str(path), "--quiet", "--fail-under", f"{best + 0.5}", cwd=isolated, env=env)
        at = redraft("run", str(path), "--quiet", "--fail-under", f"{best}", cwd=isolated, env=env)
    assert above.returncode == 3 and "Traceback" not in above.stderr
    assert f"--fail-under {best + 0.5:g}: the final prompt scored {best:.3f} on dev, below it" in above.stderr
    assert at.returncode == 0, at.stderr  # a score at the bar passes


def test_run_into_a_log_prints_a_plain_progress_line_per_step(isolated: Path) -> None:
    path = write_scenario(isolated, SIMPLE.replace("rounds: 3", "rounds: 2"))
    with FakeOpenAI(latency=0.02) as srv:
        entries = json.dumps([{"model": "fake-model", "base_url": srv.base_url, "api_key": "sk-x"}])
        proc = redraft("run", str(path), "--quiet", "--no-cache", cwd=isolated, env={"OAI_CONFIG_LIST": entries})
    assert proc.returncode == 0, proc.stderr
    steps = [line for line in proc.stderr.splitlines() if re.match(r"\[\d+s\] (round \d|scoring)", line)]
    assert steps and steps[0].startswith("[0s] round 1: ")  # stderr is a pipe here, as in CI: still told where it is
    assert "\r" not in proc.stderr and "\x1b" not in proc.stderr  # plain lines, no rewriting in place
    assert len(steps) == len({line.split(" — ")[0].split("] ", 1)[1] for line in steps})  # a line per step, not per call


def test_compare_json_is_the_comparison_on_stdout_and_progress_on_stderr(isolated: Path) -> None:
    from test_compare import sentiment_scenario

    path = write_scenario(isolated, sentiment_scenario(isolated).read_text().split("roles:")[0], "plain.yaml")
    with FakeOpenAI() as srv:
        entries = json.dumps([{"model": "fake-model", "base_url": srv.base_url, "api_key": "sk-x"}])
        proc = redraft("compare", str(path), "--arms", "start,single_shot", "--repeats", "1", "--no-cache", "--out", "cmp",
                       "--json", cwd=isolated, env={"OAI_CONFIG_LIST": entries})
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)  # stdout is the JSON alone: no table, no files line
    assert shown == json.loads((isolated / "cmp" / "compare.json").read_text())
    assert set(shown["arms"]) == {"start", "single_shot"} and len(shown["arms"]["single_shot"]["repeats"]) == 1
    assert "arm single_shot, repeat 1/1" in proc.stderr and "cmp/" in proc.stderr  # progress and the folder: stderr

"""Shared fixtures: a temp working directory, and scripted model doubles that record every request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from autogen_ext.models.replay import ReplayChatCompletionClient

from redraft.llm import Endpoint
from redraft.records import ModelDescription


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test runs in its own empty folder, with no model config from the user's environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("OAI_CONFIG_LIST", "REDRAFT_GGUF", "REDRAFT_MODELS_DIR", "OPENAI_API_KEY", "REDRAFT_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


class ScriptedModels:
    """A ModelProvider whose tags map to replay clients; each client records the requests it got."""

    def __init__(self, scripts: dict[str, list[str]], *, structured: bool = True):
        self.clients = {tag: ReplayChatCompletionClient(list(replies)) for tag, replies in scripts.items()}
        self.structured = structured

    def known_tags(self) -> list[str]:
        return list(self.clients)

    def has_tag(self, tag: str) -> bool:
        return tag in self.clients

    def client(self, tag: str) -> ReplayChatCompletionClient:
        return self.clients[tag]

    def endpoint(self, tag: str) -> Endpoint:
        return Endpoint(id=f"scripted|{tag}", description=ModelDescription(model=f"scripted-{tag}", api_type="scripted"),
                        structured_output=self.structured, max_retries=0)

    async def close(self) -> None:
        pass

    def requests(self, tag: str) -> list[dict[str, Any]]:
        """Each request as {'system', 'user', 'args'} (last user message) for easy assertions."""
        out = []
        for call in self.clients[tag].create_calls:
            msgs = call["messages"]
            out.append({
                "system": msgs[0].content,
                "user": msgs[-1].content,
                "messages": [m.content for m in msgs],
                "args": dict(call["extra_create_args"]),
            })
        return out

    def remaining(self, tag: str) -> int:
        c = self.clients[tag]
        return len(c.chat_completions) - len(c.create_calls)


def proposal(prompt: str, changes: str = "first draft") -> str:
    return json.dumps({"prompt": prompt, "changes": changes})


def review(policy: int, tone: int, issues: list[str] | None = None, edits: list[str] | None = None,
           per_output: list[int] | None = None, n: int = 2) -> str:
    """A critic's JSON reply; per-output scores default to the rounded mean of the two criteria."""
    per = per_output if per_output is not None else [round((policy + tone) / 2)] * n
    return json.dumps({"scores": {"policy": policy, "tone": tone}, "per_output": per, "issues": issues or [],
                       "edits": edits or []})


SCENARIO = """\
name: refunds
description: Reply to refund requests.
task: Answer a refund request under the 30-day policy.
inputs:
  - "Refund for shoes bought 10 days ago?"
  - "Refund for a lamp bought 60 days ago?"
criteria:
  - name: policy
    description: Follows the 30-day policy.
  - name: tone
    description: Polite and short.
critics: [clarity, fidelity]
rounds: 3
noise_repeats: 0
stop:
  patience: 2
roles:
  prompt_engineer: {model: pe}
  task_executor: {model: exe}
  moderator: {model: mod}
  clarity: {model: c1}
  fidelity: {model: c2}
"""


def write_scenario(folder: Path, text: str = SCENARIO, name: str = "refunds.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def read_transcript(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "transcript.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def scenario_file(isolated: Path) -> Path:
    return write_scenario(isolated)


def run(path: Path, models: ScriptedModels, **options: Any):  # noqa: ANN201 - RunOutcome
    """Run a scenario file on scripted models, without the call cache, into ./runs."""
    from redraft import RunOptions, run_scenario

    options.setdefault("runs_dir", Path("runs").absolute())
    options.setdefault("no_cache", True)
    return run_scenario(str(path), RunOptions(**options), models=models)


ONE_MODEL = SCENARIO.split("rounds: 3")[0]  # the scenario without rounds and roles: every role on a config's one model


def cli_env() -> dict[str, str]:
    """The environment for a `redraft` child process: the test's, without a model config."""
    return {k: v for k, v in os.environ.items() if k not in ("OAI_CONFIG_LIST", "OPENAI_API_KEY")}


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `redraft ARGS` to its end, as a user would."""
    return subprocess.run([sys.executable, "-m", "redraft.cli", *args], cwd=cwd, env=cli_env(), capture_output=True,
                          text=True, timeout=300)


def start_cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """Start `redraft ARGS` in the background (to signal, kill or race it), with Ctrl-C's default disposition as a
    shell starts it: a child inherits an ignored SIGINT, and Python then never installs its handler, so a test that
    ran after something left the test process ignoring SIGINT saw Ctrl-C do nothing (in the full suite only)."""
    import signal

    return subprocess.Popen([sys.executable, "-m", "redraft.cli", *args], cwd=cwd, env=cli_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def one_model_config(folder: Path, base_url: str) -> str:
    """models.json: one fake model at base_url, no retries, for every role."""
    path = folder / "models.json"
    path.write_text(json.dumps([{"model": "fake-model", "base_url": base_url, "max_retries": 0, "timeout": 30}]))
    return str(path)

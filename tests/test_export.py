"""`redraft export`: the final prompt as text, as the executor's exact chat request, as a promptfoo config and
as a Python snippet; from finished and interrupted runs; never with a secret in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import SCENARIO, ScriptedModels, review, run, write_scenario
from fakeserver import FakeOpenAI
from test_compare import sentiment_models, sentiment_scenario

from redraft import EndpointError
from redraft.errors import RedraftError
from redraft.export import FORMATS, export_run
from redraft.store import read_run

SENTINEL_KEY = "sk-export-SENTINEL-5e1f0c2a9b"
V1 = "You answer refund requests. Refunds within 30 days only; say so politely."
TASK = "Answer a refund request under the 30-day policy."  # SCENARIO's task: the start prompt without a seed_prompt


def seeded(text: str, prompt: str) -> str:
    """The scenario with this seed_prompt: round 1 (the user's own prompt, no engineer call) runs it as given."""
    return text.replace("inputs:", f"seed_prompt: {json.dumps(prompt)}\ninputs:", 1)


def rubric_run(isolated: Path) -> Path:
    path = write_scenario(isolated, seeded(SCENARIO.replace("rounds: 3", "rounds: 1"), V1))
    models = ScriptedModels({"pe": [], "exe": ["Yes, within 30 days.", "Sorry, past 30 days."],
                             "c1": [review(7, 8)], "c2": [review(8, 8)], "mod": []})
    return run(path, models).run_dir.path


def export(run_dir: Path, fmt: str) -> str:
    return export_run(run_dir, fmt)  # type: ignore[arg-type]


def as_promptfoo_assert(code: str, output: str, context: dict[str, Any]) -> Any:
    """Run an inline `python` assertion as promptfoo does: the body of a function of output and context."""
    scope: dict[str, Any] = {}
    exec("def check(output, context):\n" + textwrap.indent(code, "    "), scope)
    return scope["check"](output, context)


def test_text_and_messages_are_the_prompt_and_the_executors_request(isolated: Path) -> None:
    run_dir = rubric_run(isolated)
    assert export(run_dir, "text") == V1 + "\n"
    body = json.loads(export(run_dir, "messages"))
    assert body == {"model": "scripted-exe", "messages": [{"role": "system", "content": V1}, {"role": "user", "content": "{{input}}"}],
                    "temperature": 0.2, "max_tokens": 256}


def test_messages_are_what_the_executor_sent_over_http_without_autogens_name_field(isolated: Path) -> None:
    path = write_scenario(isolated, SCENARIO.split("roles:")[0].replace("rounds: 3", "rounds: 1")
                          + "roles:\n  task_executor: {temperature: 0.0, max_tokens: 64}\n")
    with FakeOpenAI() as srv:
        cfg = isolated / "models.json"
        cfg.write_text(json.dumps([{"model": "fake-model", "base_url": srv.base_url, "api_key": SENTINEL_KEY}]))
        from redraft import RunOptions, run_scenario

        out = run_scenario(str(path), RunOptions(config=str(cfg), runs_dir=Path("runs").absolute(), no_cache=True))
    body = json.loads(export(out.run_dir.path, "messages"))
    sent = [r for r in srv.requests if r["messages"][0]["content"] == out.summary.final_prompt]
    assert len(sent) == 2  # the two inputs
    for request in sent:
        text = request["messages"][1]["content"]
        expected = {**body, "messages": [{**m, "content": m["content"].replace("{{input}}", text)} for m in body["messages"]]}
        # AutoGen adds `name` to user turns; the export leaves it out, as Mistral's API and vLLM in Mistral mode refuse it
        got = {**request, "messages": [{k: v for k, v in m.items() if k != "name"} for m in request["messages"]]}
        assert {k: got[k] for k in expected} == expected and not any("name" in m for m in body["messages"])


def test_promptfoo_config_of_a_labeled_run_has_promptfoos_keys_and_asserts_the_metric(isolated: Path) -> None:
    outcome = run(sentiment_scenario(isolated, rounds=1), sentiment_models())
    config = yaml.safe_load(export(outcome.run_dir.path, "promptfoo"))
    assert {"description", "prompts", "providers", "tests"} <= set(config)

    (prompt,) = config["prompts"]
    messages = json.loads(prompt["raw"])
    assert messages == [{"role": "system", "content": outcome.summary.final_prompt},
                        {"role": "user", "content": "{{input}}"}]
    (provider,) = config["providers"]
    executor = outcome.summary.models["task_executor"]
    assert provider["id"] == f"openai:chat:{executor.model}"
    # No key variable recorded and no base_url (scripted models): promptfoo reads OPENAI_API_KEY itself, and no
    # `{{ env.X }}` template is written (promptfoo sends one literally when X is unset).
    assert provider["config"] == {"temperature": executor.temperature, "max_tokens": executor.max_tokens}

    past = read_run(outcome.run_dir.path)
    test_examples = past.config.splits.test
    assert [t["description"] for t in config["tests"]] == [e.id for e in test_examples]
    for t, e in zip(config["tests"], test_examples):
        assert t["vars"] == {"input": e.input, "expected": e.target}
        (check,) = t["assert"]
        assert check["type"] == "python"
        right = as_promptfoo_assert(check["value"], f"Answer: {e.target}", {"vars": t["vars"]})
        other = "negative" if e.target == "positive" else "positive"
        wrong = as_promptfoo_assert(check["value"], f"It is {other}.", {"vars": t["vars"]})
        assert right["pass"] and right["score"] == 1.0 and not wrong["pass"] and wrong["score"] == 0.0


def test_promptfoo_config_of_a_rubric_run_grades_with_the_criteria_by_the_critics_model(isolated: Path) -> None:
    run_dir = rubric_run(isolated)
    config = yaml.safe_load(export(run_dir, "promptfoo"))
    assert [t["vars"] for t in config["tests"]] == [{"input": "Refund for shoes bought 10 days ago?"},
                                                   {"input": "Refund for a lamp bought 60 days ago?"}]
    for t in config["tests"]:
        (check,) = t["assert"]
        assert check["type"] == "llm-rubric" and "- policy: Follows the 30-day policy." in check["value"]
    assert config["defaultTest"]["options"]["provider"]["id"] == "openai:chat:scripted-c1"

    # Had the critics run on the embedded model, the grader is held to the grade's JSON shape.
    recorded = json.loads((run_dir / "config.json").read_text())
    recorded["models"]["clarity"].update(api_type="embedded", gguf="/models/small.gguf")
    (run_dir / "config.json").write_text(json.dumps(recorded))
    grader = yaml.safe_load(export(run_dir, "promptfoo"))["defaultTest"]["options"]["provider"]
    assert grader["config"]["apiBaseUrl"] == "http://127.0.0.1:8080/v1" and grader["config"]["apiKeyRequired"] is False
    assert grader["config"]["response_format"]["json_schema"]["schema"]["required"] == ["reason", "pass", "score"]


def test_a_prompt_with_braces_reaches_promptfoo_as_written(isolated: Path) -> None:
    prompt = 'Reply with JSON like {"team": "billing"}; never write {{ or {% in a reply.'
    path = write_scenario(isolated, seeded(SCENARIO.replace("rounds: 3", "rounds: 1"), prompt))
    models = ScriptedModels({"pe": [], "exe": ["a", "b"], "c1": [review(7, 8)], "c2": [review(8, 8)], "mod": []})
    config = yaml.safe_load(export(run(path, models).run_dir.path, "promptfoo"))
    system = json.loads(config["prompts"][0]["raw"])[0]["content"]
    assert system == "{% raw %}" + prompt + "{% endraw %}"


def test_python_snippet_sends_the_prompt_as_the_executor_did(isolated: Path) -> None:
    path = write_scenario(isolated, SCENARIO.split("roles:")[0].replace("rounds: 3", "rounds: 1"))
    with FakeOpenAI() as srv:
        cfg = isolated / "models.json"
        cfg.write_text(json.dumps([{"model": "fake-model", "base_url": srv.base_url, "api_key": "${MY_KEY}"}]))
        os.environ["MY_KEY"] = SENTINEL_KEY
        try:
            from redraft import RunOptions, run_scenario

            out = run_scenario(str(path), RunOptions(config=str(cfg), runs_dir=Path("runs").absolute(), no_cache=True))
        finally:
            del os.environ["MY_KEY"]
        snippet = isolated / "snippet.py"
        snippet.write_text(export(out.run_dir.path, "python"))
        before = len(srv.requests)
        # The run read its key from MY_KEY, and so does the script (OPENAI_API_KEY is not the run's variable).
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")} | {
            "MY_KEY": "sk-user-key", "OPENAI_API_KEY": "sk-not-this-one"}
        proc = subprocess.run([sys.executable, str(snippet), "Refund for a kettle after 3 days?"], env=env,
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "A polite answer."
    (request,) = srv.requests[before:]
    (headers,) = srv.headers[before:]
    assert {k.lower(): v for k, v in headers.items()}["authorization"] == "Bearer sk-user-key"
    assert request["messages"] == [{"role": "system", "content": out.summary.final_prompt},
                                   {"role": "user", "content": "Refund for a kettle after 3 days?"}]
    assert request["model"] == "fake-model" and request["temperature"] == 0.2 and request["max_tokens"] == 256


def test_no_export_holds_the_api_key(isolated: Path) -> None:
    path = write_scenario(isolated, SCENARIO.split("roles:")[0].replace("rounds: 3", "rounds: 1"))
    with FakeOpenAI() as srv:
        cfg = isolated / "models.json"
        cfg.write_text(json.dumps([{"model": "fake-model", "base_url": srv.base_url, "api_key": SENTINEL_KEY}]))
        env = {k: v for k, v in os.environ.items() if k not in ("OAI_CONFIG_LIST", "OPENAI_API_KEY")}
        done = subprocess.run([sys.executable, "-m", "redraft.cli", "run", str(path), "--config", str(cfg), "--no-cache",
                               "--quiet"], cwd=isolated, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (run_dir,) = (isolated / "runs").iterdir()
    for fmt in FORMATS:
        # A fresh process, as a user runs it: it knows no key to mask, so none may be in the files it reads.
        proc = subprocess.run([sys.executable, "-m", "redraft.cli", "export", str(run_dir), "--format", fmt],
                              cwd=isolated, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert SENTINEL_KEY not in proc.stdout + proc.stderr and "sk-" not in proc.stdout
        if fmt == "promptfoo":  # the key was written inline: no variable to name, none demanded
            assert "{{ env." not in proc.stdout and f"apiBaseUrl: {srv.base_url}" in proc.stdout
            assert "apiKeyRequired: false" in proc.stdout


def test_an_interrupted_run_exports_its_best_prompt_so_far(isolated: Path) -> None:
    path = write_scenario(isolated, seeded(SCENARIO.replace("rounds: 3", "rounds: 2"), V1))
    models = ScriptedModels({"pe": [], "exe": ["a", "b"], "c1": [review(6, 6)], "c2": [review(6, 7)],
                             "mod": ["add the rule"]})
    with pytest.raises(EndpointError):
        run(path, models)  # the engineer's script runs dry in round 2
    (run_dir,) = (isolated / "runs").iterdir()
    assert read_run(run_dir).status == "resumable"
    assert export(run_dir, "text") == V1 + "\n"
    assert json.loads(export(run_dir, "messages"))["messages"][0]["content"] == V1
    assert yaml.safe_load(export(run_dir, "promptfoo"))["tests"]
    compile(export(run_dir, "python"), "snippet.py", "exec")


def test_a_run_stopped_before_any_score_exports_the_users_own_prompt(isolated: Path) -> None:
    # Round 1's prompt is the user's own (the task text here), there before any model answers: a run that stopped
    # at its first model call still has a prompt, and it is theirs.
    path = write_scenario(isolated, SCENARIO)
    with pytest.raises(EndpointError):
        run(path, ScriptedModels({"pe": [], "exe": [], "c1": [], "c2": [], "mod": []}))
    (run_dir,) = (isolated / "runs").iterdir()
    assert export(run_dir, "text") == TASK + "\n"
    assert json.loads(export(run_dir, "messages"))["messages"][0]["content"] == TASK


def test_a_run_without_a_prompt_says_so(isolated: Path) -> None:
    path = write_scenario(isolated, SCENARIO)
    with pytest.raises(EndpointError):
        run(path, ScriptedModels({"pe": [], "exe": [], "c1": [], "c2": [], "mod": []}))
    (run_dir,) = (isolated / "runs").iterdir()
    # A checkpoint with no round at all (stopped before round 1 began): nothing to export.
    state = json.loads((run_dir / "state.json").read_text())
    state["run"]["rounds"] = []
    (run_dir / "state.json").write_text(json.dumps(state))
    for fmt in FORMATS:
        with pytest.raises(RedraftError, match="the run has no prompt yet"):
            export(run_dir, fmt)


# --- on the real embedded model ------------------------------------------------------------------


class HalfEmbedded(ScriptedModels):
    """Scripted seats, with the task executor (tag `exe`) on the real embedded model (one slot)."""

    def __init__(self, scripts: dict[str, list[str]]):
        from redraft.llm import EmbeddedModels

        super().__init__(scripts)
        self.embedded = EmbeddedModels(parallel=1)
        self.server = self.embedded.server  # started (and logged) by the run, like the embedded model's own

    def has_tag(self, tag: str) -> bool:
        return tag == "exe" or super().has_tag(tag)

    def client(self, tag: str) -> Any:
        return self.embedded.client(tag) if tag == "exe" else super().client(tag)

    def endpoint(self, tag: str) -> Any:
        return self.embedded.endpoint(tag) if tag == "exe" else super().endpoint(tag)


INPUTS = ["My order #4471 arrived with a cracked mug. I want a refund.",
          "Can I return a book I received 45 days ago?",
          "I ordered a blue sweater and got a red one. What now?"]


@pytest.mark.embedded
def test_exported_messages_give_the_runs_outputs_on_the_embedded_model(isolated: Path) -> None:
    import openai

    from redraft.llm import EmbeddedServer, default_gguf

    inputs = "".join(f'  - "{text}"\n' for text in INPUTS)
    text = (SCENARIO.replace("rounds: 3", "rounds: 1\nconcurrency: 1\nmax_tokens: 32")
            .replace('  - "Refund for shoes bought 10 days ago?"\n  - "Refund for a lamp bought 60 days ago?"\n', inputs)
            .replace("task_executor: {model: exe}", "task_executor: {model: exe, temperature: 0.0}"))
    models = HalfEmbedded({"pe": [], "c1": [review(6, 7, n=3)], "c2": [review(7, 7, n=3)], "mod": []})
    try:
        outcome = run(write_scenario(isolated, seeded(text, V1)), models)  # no cache
    finally:
        models.server.stop()  # the run did not open the models, so it leaves them to us
    state = json.loads((outcome.run_dir.path / "state.json").read_text())["run"]
    ran = {e_input: state["rounds"][0]["outputs"][f"input-{i}"] for i, e_input in enumerate(INPUTS, 1)}
    assert all(ran.values())

    body = json.loads(export(outcome.run_dir.path, "messages"))
    assert body["temperature"] == 0.0 and body["max_tokens"] == 32 and body["messages"][0]["content"] == V1

    def replies(messages: list[dict[str, str]]) -> dict[str, str]:
        out = {}
        for text in INPUTS:
            sent = [{**m, "content": m["content"].replace("{{input}}", text)} for m in messages]
            reply = client.chat.completions.create(model=body["model"], messages=sent,  # type: ignore[arg-type]
                                                   temperature=body["temperature"], max_tokens=body["max_tokens"])
            out[text] = (reply.choices[0].message.content or "").strip()
        return out

    with EmbeddedServer(default_gguf(), parallel=1) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="not-needed")
        assert replies(body["messages"]) == ran
        changed = [{**body["messages"][0], "content": "Answer in French, in one short sentence."}, body["messages"][1]]
        assert replies(changed) != ran


V_EXAMPLES = (V1 + "\n\nExamples:\n\nInput: Bought it 10 days ago, refund?\nAnswer: Yes, within 30 days."
              "\n\nInput: Bought it last year.\nAnswer: Sorry, past 30 days.")


def test_worked_examples_reach_the_executor_and_the_export_as_chat_turns(isolated: Path) -> None:
    path = write_scenario(isolated, seeded(SCENARIO.replace("rounds: 3", "rounds: 1"), V_EXAMPLES))
    models = ScriptedModels({"pe": [], "exe": ["Yes, within 30 days.", "Sorry, past 30 days."],
                             "c1": [review(7, 8)], "c2": [review(8, 8)], "mod": []})
    run_dir = run(path, models).run_dir.path
    assert export(run_dir, "text") == V_EXAMPLES + "\n"  # the prompt itself is still one text
    turns = [{"role": "user", "content": "Bought it 10 days ago, refund?"},
             {"role": "assistant", "content": "Yes, within 30 days."},
             {"role": "user", "content": "Bought it last year."},
             {"role": "assistant", "content": "Sorry, past 30 days."}]
    body = json.loads(export(run_dir, "messages"))
    assert body["messages"] == [{"role": "system", "content": V1}, *turns,
                                {"role": "user", "content": "{{input}}"}]
    sent = models.requests("exe")
    assert len(sent) == 2 and all(r["messages"][:5] == [V1, *(t["content"] for t in turns)] for r in sent)
    # No message carries a `name` (Mistral's API and vLLM in Mistral mode refuse it).
    assert not any("name" in m for m in body["messages"])

    # The python export sends the same turns, and an input piped in arrives without its closing newline.
    snippet = isolated / "snippet.py"
    snippet.write_text(export(run_dir, "python"))
    with FakeOpenAI() as srv:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")} | {
            "OPENAI_API_KEY": "sk-user-key", "OPENAI_BASE_URL": srv.base_url}
        proc = subprocess.run([sys.executable, str(snippet)], input="Bought it today, refund?\n", env=env,
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    (request,) = srv.requests
    assert request["messages"] == [{"role": "system", "content": V1}, *turns,
                                   {"role": "user", "content": "Bought it today, refund?"}]


def test_python_export_of_an_embedded_run_says_what_to_set_without_a_traceback(isolated: Path) -> None:
    run_dir = rubric_run(isolated)
    recorded = json.loads((run_dir / "config.json").read_text())
    recorded["models"]["task_executor"].update(api_type="embedded", gguf="/models/small.gguf", base_url=None)
    (run_dir / "config.json").write_text(json.dumps(recorded))
    snippet = isolated / "snippet.py"
    snippet.write_text(export(run_dir, "python"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    proc = subprocess.run([sys.executable, str(snippet), "Refund?"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "set OPENAI_BASE_URL to an OpenAI-compatible server's address, e.g. http://127.0.0.1:8080/v1"

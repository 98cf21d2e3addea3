"""Secrets outside api_key, and short ones: a key in base_url (user:password@ or a query parameter), values
of ${VAR} from .env, all under 6 characters. No file a run writes (run folder, cache) and no line it
prints may hold one; config.json names the setting by its ${VAR} placeholder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import ONE_MODEL, cli, write_scenario
from fakeserver import FakeOpenAI, Responder, is_proposal, is_review, passthrough, requested_schema, smart_responder, status_fault

from redraft.secrets import redact_url, url_secrets

# Short, and made of letters no hash, number or timestamp in a run folder holds.
PASSWORD, TOKEN, KEY, LITERAL_SIG = "pW3", "tK5", "Zq7", "sgQ"
SECRETS = (PASSWORD, TOKEN, KEY, LITERAL_SIG)


def echo_request(h: Any) -> bool:
    """A gateway error that quotes the request's path (with its query) and Authorization header back."""
    return status_fault(500, message=f"upstream rejected {h.path} with {h.headers.get('Authorization')}")(h)


TASK = "Answer a refund request under the 30-day policy."  # the shared scenario's task: round 1's prompt
CURT = "A curt answer."  # what the executor answers on the user's own prompt (round 1)


def start_loses(base: Responder = smart_responder) -> Responder:
    """base's replies, except that round 1's prompt (the task text, run as given) gets curt outputs that the
    critics score 3, so the engineer's proposal in round 2 (scored 7 by smart_responder) beats it and becomes
    the final prompt, as a model's text must be followed into every file."""

    def respond(request: dict[str, Any]) -> str:
        if is_proposal(request):
            return base(request)
        if is_review(request):
            if CURT not in str(request["messages"][-1]["content"]):
                return base(request)
            props = requested_schema(request)["properties"]
            reply: dict[str, Any] = {"scores": {c: 3 for c in props["scores"]["required"]}, "issues": ["curt"], "edits": []}
            if "per_output" in props:
                reply["per_output"] = [3] * int(props["per_output"].get("minItems", 1))
            return json.dumps(reply)
        if request["messages"][0]["content"] == TASK:
            return CURT
        return base(request)

    return respond


def written_files(*roots: Path) -> list[Path]:
    return [f for root in roots for f in root.rglob("*") if f.is_file()]


def test_secrets_in_base_url_and_short_secrets_leak_nowhere(isolated: Path) -> None:
    path = write_scenario(isolated, ONE_MODEL + "rounds: 2\n")
    (isolated / ".env").write_text(f"RD_PW={PASSWORD}\nRD_TOKEN={TOKEN}\nRD_KEY={KEY}\n")
    cache = isolated / "cache"
    with FakeOpenAI() as srv:
        base_url = (f"http://admin:${{RD_PW}}@127.0.0.1:{srv.port}/v1"
                    f"?api-version=2024-06-01&api-key=${{RD_TOKEN}}&sig={LITERAL_SIG}")
        models = isolated / "models.json"
        models.write_text(json.dumps([{"model": "fake-model", "base_url": base_url, "api_key": "${RD_KEY}",
                                       "max_retries": 1, "retry_base_seconds": 0.01, "timeout": 5}]))
        srv.faults += [*passthrough(3), echo_request, echo_request]  # a critic's two attempts: the run stops
        failed = cli("run", str(path), "--config", str(models), "--cache-dir", str(cache), cwd=isolated)
        assert failed.returncode != 0 and "answered HTTP 500" in failed.stderr, failed.stderr
        assert "upstream rejected" in failed.stderr and "Traceback" not in failed.stderr
        run_dir = next((isolated / "runs").iterdir())
        resumed = cli("resume", str(run_dir), "--config", str(models), "--cache-dir", str(cache), cwd=isolated)
        assert resumed.returncode == 0, resumed.stderr
    # The secrets were really sent: in the URL, and as the Basic credentials its userinfo makes.
    assert all(TOKEN in p and LITERAL_SIG in p for p in srv.paths)
    assert {h.get("Authorization") for h in srv.headers} == {"Basic YWRtaW46cFcz"}  # admin:pW3

    # The config snapshot and the summary name the settings by their placeholders; literal credentials are masked.
    for name in ("config.json", "summary.json"):
        shown = json.loads((run_dir / name).read_text())["models"]["clarity"]["base_url"]
        assert shown == (f"http://***:${{RD_PW}}@127.0.0.1:{srv.port}/v1"
                         f"?api-version=2024-06-01&api-key=${{RD_TOKEN}}&sig=***"), shown
    files = written_files(run_dir, cache)
    assert any(f.name == "state.json" for f in files) and any(f.parent.parent == cache for f in files)
    for f in files:
        data = f.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret} in {f}"
    for proc in (failed, resumed):
        for secret in SECRETS:
            assert secret not in proc.stdout + proc.stderr, secret


def test_a_model_that_echoes_a_short_key_cannot_write_it_anywhere(isolated: Path) -> None:
    """A reply holding the key (a model, or a proxy, quoting it) is masked in the transcript, the
    prompts, the summary, the final prompt, the cache and the console; the JSON files stay valid."""
    # Round 1 is the user's own prompt (no engineer call): the leaky proposal is round 2's, and it wins.
    path = write_scenario(isolated, ONE_MODEL + "rounds: 2\n")
    (isolated / ".env").write_text(f"RD_KEY={KEY}\n")

    def leaky(request: dict[str, Any]) -> str:
        from fakeserver import is_proposal, smart_responder

        if is_proposal(request):
            return json.dumps({"prompt": f'Reply politely. Never say "{KEY}".', "changes": f"hid {KEY}"})
        return smart_responder(request)

    cache = isolated / "cache"
    with FakeOpenAI(start_loses(leaky)) as srv:
        (isolated / "models.json").write_text(json.dumps([{"model": "fake-model", "base_url": srv.base_url,
                                                           "api_key": "${RD_KEY}", "max_retries": 0}]))
        proc = cli("run", str(path), "--config", "models.json", "--cache-dir", str(cache), cwd=isolated)
    assert proc.returncode == 0, proc.stderr
    run_dir = next((isolated / "runs").iterdir())
    assert (run_dir / "final_prompt.txt").read_text() == 'Reply politely. Never say "***".\n'
    for f in written_files(run_dir, cache):
        assert KEY.encode() not in f.read_bytes(), f
        if f.suffix in (".json", ".jsonl"):
            for line in f.read_text().splitlines() if f.suffix == ".jsonl" else [f.read_text()]:
                json.loads(line)
    assert KEY not in proc.stdout + proc.stderr and 'Never say "***"' in proc.stdout


@pytest.mark.parametrize("url,secrets,shown", [
    ("https://u:p@h/v1", ["u", "p"], "https://***:***@h/v1"),
    ("https://tok@h/v1", ["tok"], "https://***@h/v1"),
    ("https://h/v1?api-version=1&api-key=k&X-Amz-Signature=s&access_token=t",
     ["k", "s", "t"], "https://h/v1?api-version=1&api-key=***&X-Amz-Signature=***&access_token=***"),
    ("https://h/v1?code=${C}&key=${K}", ["${K}"], "https://h/v1?code=${C}&key=${K}"),
    ("http://localhost:8000/v1", [], "http://localhost:8000/v1"),
])
def test_credentials_in_a_url(url: str, secrets: list[str], shown: str) -> None:
    assert url_secrets(url) == secrets
    assert redact_url(url) == shown


def test_a_short_secret_is_masked_as_a_token_not_inside_words() -> None:
    """A one-letter key must not turn "Check base_url" into "Chec*** base_url"; where it stands alone
    (a header, a query value, quoted) it is masked; a long key is masked wherever it appears."""
    from redraft import secrets

    saved = set(secrets._SECRETS)
    try:
        secrets.register("k")
        secrets.register("sk-LongSecretValue123")
        assert secrets.scrub("Check base_url; Bearer k; api-key=k&x=1; 'k'; sig=kchat/completions") == (
            "Check base_url; Bearer ***; api-key=***&x=1; '***'; sig=***chat/completions")
        assert secrets.scrub("prefixsk-LongSecretValue123suffix") == "prefix***suffix"
    finally:
        secrets._SECRETS.clear()
        secrets._SECRETS.update(saved)

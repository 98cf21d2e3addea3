"""Issue 26, what a user sees: model text cannot drive the terminal, NO_COLOR means no escapes, a closed
pipe stops the printing but not the run, and an encoding that cannot show a character is not fatal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pexpect
from conftest import SCENARIO, write_scenario
from fakeserver import PROMPT, FakeOpenAI, requested_schema, smart_responder
from test_secrets import start_loses

SIMPLE = SCENARIO.split("roles:")[0].replace("rounds: 3", "rounds: 2")
# Clear the screen, set the window title, write the clipboard (OSC 52), and a C1 CSI and a DEL for good measure.
HOSTILE = "\x1b[2J\x1b]0;pwned title\x07\x1b]52;c;cm0gLXJmIH4=\x07\x9b31m\x7f"
SHOWN = "^[[2J^[]0;pwned title^G^[]52;c;cm0gLXJmIH4=^GM-^[31m^?"  # the same, made visible
RAW = ("\x1b[2J", "\x1b]0;", "\x1b]52;", "\x07", "\x9b", "\x7f")


def hostile_responder(request: dict[str, Any]) -> str:
    """The fake server's valid replies, with terminal escapes in the Prompt Engineer's prompt and every output."""
    if "prompt" in requested_schema(request).get("properties", {}):
        return json.dumps({"prompt": PROMPT + " " + HOSTILE, "changes": "drafted " + HOSTILE})
    reply = smart_responder(request)
    return reply if reply.startswith("{") else HOSTILE + " " + reply


def env_for(folder: Path, srv: FakeOpenAI, **extra: str) -> dict[str, str]:
    cfg = folder / "models.json"
    cfg.write_text(json.dumps([{"model": "fake", "base_url": srv.base_url, "max_retries": 0, "timeout": 30}]))
    env = {k: v for k, v in os.environ.items() if k not in ("OAI_CONFIG_LIST", "OPENAI_API_KEY", "NO_COLOR")}
    env.update({"OAI_CONFIG_LIST": str(cfg), "PYTHONUNBUFFERED": "1", "TERM": "xterm-256color", **extra})
    return env


def on_pty(args: list[str], folder: Path, env: dict[str, str]) -> tuple[str, int]:
    """Run `redraft ARGS` in a pseudo-terminal (stdout and stderr both the terminal): what it printed, its exit code."""
    child = pexpect.spawn(sys.executable, ["-m", "redraft.cli", *args], cwd=str(folder), env=env, encoding="utf-8",
                          codec_errors="replace", timeout=120, dimensions=(50, 200))
    child.expect(pexpect.EOF)
    child.close()
    return child.before, child.exitstatus


def only_run(folder: Path) -> Path:
    (run,) = list((folder / "runs").iterdir())
    return run


def assert_shown_not_obeyed(text: str) -> None:
    for raw in RAW:
        assert raw not in text, (raw, text[-2000:])
    assert SHOWN in text, text[-2000:]


def test_model_escapes_are_shown_not_obeyed_in_run_and_show_on_a_terminal(isolated: Path) -> None:
    write_scenario(isolated, SIMPLE)
    with FakeOpenAI(start_loses(hostile_responder)) as srv:  # the engineer's hostile prompt (round 2) wins
        env = env_for(isolated, srv, NO_COLOR="")  # set but empty: colour stays on (no-color.org)
        out, code = on_pty(["run", "refunds.yaml"], isolated, env)
    assert code == 0, out[-2000:]
    assert "Final prompt" in out and "task_executor" in out
    assert_shown_not_obeyed(out)
    assert "\x1b[1m━━ Summary" in out  # redraft's own styling still works
    run = only_run(isolated)
    assert HOSTILE in (run / "final_prompt.txt").read_text(encoding="utf-8")  # the files keep the text as it was

    shown, code = on_pty(["show", str(run)], isolated, env)
    assert code == 0 and "Final prompt" in shown
    assert_shown_not_obeyed(shown)
    assert "\x1b[1mFinal prompt" in shown

    piped = subprocess.run([sys.executable, "-m", "redraft.cli", "show", str(run)], cwd=isolated, env=env,
                           capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0
    assert_shown_not_obeyed(piped.stdout)
    assert "\x1b" not in piped.stdout  # not a terminal: no colour either


def test_scenario_description_and_error_messages_are_shown_not_obeyed(isolated: Path) -> None:
    (isolated / "scenarios").mkdir()
    (isolated / "scenarios" / "evil.yaml").write_text(
        'name: evil\ndescription: "Looks fine\\e[2J\\e]0;pwned title\\a\\e]52;c;cm0gLXJmIH4=\\a"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("OAI_CONFIG_LIST", "OPENAI_API_KEY")}
    listing = subprocess.run([sys.executable, "-m", "redraft.cli", "scenarios"], cwd=isolated, env=env,
                             capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0
    assert "\x1b" not in listing.stdout and "\x07" not in listing.stdout
    assert "evil" in listing.stdout and "Looks fine^[[2J^[]0;pwned title^G^[]52;c;cm0gLXJmIH4=^G" in listing.stdout

    path = write_scenario(isolated, SIMPLE.replace("critics: [clarity, fidelity]", 'critics: [clarity, "x\\e]52;c;QQ==\\a"]'))
    bad = subprocess.run([sys.executable, "-m", "redraft.cli", "validate", str(path)], cwd=isolated, env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown critic" in bad.stderr, bad.stderr
    assert "\x1b" not in bad.stderr and "\x07" not in bad.stderr
    assert "x^[]52;c;QQ==^G" in bad.stderr


def test_no_color_means_no_escape_at_all_progress_line_included(isolated: Path) -> None:
    write_scenario(isolated, SIMPLE)
    with FakeOpenAI(hostile_responder, latency=0.05) as srv:
        out, code = on_pty(["run", "refunds.yaml"], isolated, env_for(isolated, srv, NO_COLOR="1"))
    assert code == 0, out[-2000:]
    assert "… [" in out and "calls" in out  # the progress line was shown, on the terminal
    assert "Final prompt" in out
    assert "\x1b" not in out, repr(out[:2000])


def start_into_closed_pipe(args: list[str], folder: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start `redraft ARGS` with its stdout a pipe whose reader is already gone, as after `| head` has exited."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.Popen([sys.executable, "-m", "redraft.cli", *args], cwd=folder, env=env, text=True,
                                stdout=write, stderr=subprocess.PIPE)
    finally:
        os.close(write)


def test_a_closed_stdout_stops_the_printing_not_the_run(isolated: Path) -> None:
    write_scenario(isolated, SIMPLE)
    with FakeOpenAI() as srv:
        env = env_for(isolated, srv)
        proc = start_into_closed_pipe(["run", "refunds.yaml"], isolated, env)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "BrokenPipe" not in err and "Traceback" not in err and "error" not in err, err
    run = only_run(isolated)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stop_reason"] == "round limit reached (2)" and len(summary["rounds"]) == 2
    assert (run / "report.html").is_file() and (run / "final_prompt.txt").is_file()

    for args in (["show", str(run)], ["scenarios"], ["runs"]):
        proc = start_into_closed_pipe(args, isolated, env)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and err == "", (args, err)


def test_a_run_piped_into_head_finishes_after_head_has_gone(isolated: Path) -> None:
    write_scenario(isolated, SIMPLE)
    with FakeOpenAI(latency=0.05) as srv:  # slow enough that the chat is still printing when the reader goes
        proc = subprocess.Popen([sys.executable, "-m", "redraft.cli", "run", "refunds.yaml"], cwd=isolated,
                                env=env_for(isolated, srv), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None
        head = [proc.stdout.readline() for _ in range(3)]
        proc.stdout.close()  # `| head -3` has printed its lines and exited
        _, err = proc.communicate(timeout=120)
    assert head[0] == "Task\n"
    assert proc.returncode == 0 and "Traceback" not in err and "BrokenPipe" not in err, err
    run = only_run(isolated)
    assert json.loads((run / "summary.json").read_text())["stop_reason"] == "round limit reached (2)"
    assert (run / "report.html").is_file()


def test_an_ascii_terminal_gets_the_whole_run(isolated: Path) -> None:
    write_scenario(isolated, SIMPLE)
    with FakeOpenAI() as srv:
        env = env_for(isolated, srv, PYTHONIOENCODING="ascii")
        proc = subprocess.run([sys.executable, "-m", "redraft.cli", "run", "refunds.yaml"], cwd=isolated, env=env,
                              capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "UnicodeEncodeError" not in proc.stderr
    assert "?? Round 2 ???" in proc.stdout and "?? Summary" in proc.stdout and "Final prompt" in proc.stdout
    assert json.loads((only_run(isolated) / "summary.json").read_text())["stop_reason"] == "round limit reached (2)"

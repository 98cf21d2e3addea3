"""redraft's own time per message: a full run against a zero-latency fake OpenAI server.

Usage (from the repo root, after `make setup`):

    python bench/overhead.py                 # 1 warm-up run, then 5 measured runs; prints a table
    python bench/overhead.py --profile       # also cProfile one extra run (top 15, cumulative)
    python bench/overhead.py --inputs 8 --critics 3 --rounds 5 --repeat 5

The fake server runs in a child process (as a real server would), so its work neither shares the
GIL with the run nor counts as redraft's. Three clocks are compared:

- wall: the whole `run_scenario` call (loading, seating, every turn, checkpoints, summary);
- waiting on model calls: the union of the intervals in which at least one `client.create` was in
  flight, as the client saw it (timed by wrapping each chat client);
- server busy: the union of the intervals in which the server was handling at least one request.

redraft's own time = wall - waiting on model calls (AgentChat and asyncio included; the OpenAI
client's calls and HTTP are not; its one-off creation per run is, and is shown apart). The HTTP
stack's time = waiting on model calls - server busy. Of redraft's own time, the part spent
writing the run folder (state.json after every turn, the transcript, config and summary) is
timed separately by wrapping RunDir's writers.
Writes bench/out/overhead.json. These are figures, not assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import platform
import pstats
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the fake server lives with the tests

from fakeserver import ChildServer  # noqa: E402

from redraft import RunOptions, run_scenario  # noqa: E402
from redraft.llm import ConfiguredModels, parse_config_list
from redraft.store import RunDir  # noqa: E402

CRITICS = ["clarity", "fidelity", "format"]


class TimedClient:
    """A chat client whose create() calls are timed; everything else is the wrapped client's."""

    def __init__(self, inner: Any, spans: list[tuple[float, float]]):
        self._inner, self._spans = inner, spans

    async def create(self, *args: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        try:
            return await self._inner.create(*args, **kwargs)
        finally:
            self._spans.append((start, time.monotonic()))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class TimedModels:
    """The configured models, with every chat client timed."""

    def __init__(self, inner: ConfiguredModels):
        self._inner = inner
        self.spans: list[tuple[float, float]] = []
        self.setup_seconds = 0.0  # creating the OpenAI clients (once per run; mostly loading the CA bundle)
        self._clients: dict[str, TimedClient] = {}

    def client(self, tag: str) -> TimedClient:
        if tag not in self._clients:
            t = time.perf_counter()
            self._clients[tag] = TimedClient(self._inner.client(tag), self.spans)
            self.setup_seconds += time.perf_counter() - t
        return self._clients[tag]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class FileClock:
    """Times RunDir's writers (checkpoint, transcript, summary) while in use; the methods are restored after."""

    METHODS = ("write_json", "append", "write_prompt")

    def __init__(self) -> None:
        self.seconds = 0.0
        self.state_bytes = 0

    def __enter__(self) -> "FileClock":
        self._saved = {m: getattr(RunDir, m) for m in self.METHODS}
        clock = self

        def timed(fn: Any) -> Any:
            def wrapper(run: RunDir, *args: Any, **kwargs: Any) -> Any:
                t = time.perf_counter()
                try:
                    return fn(run, *args, **kwargs)
                finally:
                    clock.seconds += time.perf_counter() - t
            return wrapper

        for m, fn in self._saved.items():
            setattr(RunDir, m, timed(fn))
        return self

    def __exit__(self, *exc: object) -> None:
        for m, fn in self._saved.items():
            setattr(RunDir, m, fn)


def union(spans: list[tuple[float, float]]) -> float:
    """Total length of the union of intervals."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def write_scenario(folder: Path, inputs: int, critics: int, rounds: int) -> Path:
    """A scenario that runs to its round limit (patience longer than the rounds)."""
    items = "\n".join(f'  - "Customer {i}: can I get a refund for an order delivered {7 * i} days ago?"'
                      for i in range(1, inputs + 1))
    text = f"""\
name: overhead
description: Benchmark scenario.
task: Answer a refund request under the 30-day policy.
inputs:
{items}
criteria:
  - name: policy
    description: Follows the 30-day policy.
  - name: tone
    description: Polite and short.
critics: [{", ".join(CRITICS[:critics])}]
rounds: {rounds}
stop:
  patience: {rounds + 1}
"""
    path = folder / "overhead.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def one_run(scenario: Path, srv: ChildServer, folder: Path, profile: bool) -> dict[str, Any]:
    """One timed run and its figures (with a cProfile report when asked)."""
    entry = {"model": "fake-model", "base_url": srv.base_url, "api_key": "sk-bench", "max_concurrency": 64,
             "max_retries": 0, "timeout": 30}
    models = TimedModels(ConfiguredModels(parse_config_list(json.dumps([entry]), "bench"), "bench"))
    options = RunOptions(no_cache=True, runs_dir=folder / "runs")
    profiler = cProfile.Profile() if profile else None
    with FileClock() as files:
        t0 = time.monotonic()
        if profiler:
            profiler.enable()
        out = run_scenario(str(scenario), options, models=models)  # type: ignore[arg-type]
        if profiler:
            profiler.disable()
        wall = time.monotonic() - t0
    try:
        asyncio.run(models.close())
    except Exception:  # noqa: BLE001 - the clients' loop is gone; nothing to release that matters here
        pass
    server = union(srv.hits())
    waiting = union(models.spans)
    messages = len((out.run_dir.path / "transcript.jsonl").read_text(encoding="utf-8").splitlines())
    calls = out.summary.usage.network_calls
    own = wall - waiting
    result = {
        "wall_s": round(wall, 4),
        "messages": messages,
        "model_calls": calls,
        "waiting_on_calls_s": round(waiting, 4),
        "server_busy_s": round(server, 4),
        "summed_call_s": round(out.summary.usage.seconds, 4),
        "redraft_s": round(own, 4),
        "writing_run_folder_s": round(files.seconds, 4),
        "client_setup_s": round(models.setup_seconds, 4),
        "state_json_bytes": (out.run_dir.path / "state.json").stat().st_size,
        "http_stack_s": round(waiting - server, 4),
        "redraft_ms_per_message": round(1000 * own / messages, 3),
        "redraft_ms_per_call": round(1000 * own / calls, 3),
        "redraft_share_of_wall": round(own / wall, 3),
        "stop_reason": out.summary.stop_reason,
    }
    if profiler:
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).sort_stats("cumulative").print_stats(15)
        result["profile"] = buf.getvalue()
    return result


def main(argv: list[str] | None = None) -> int:
    """A warm-up run, the measured runs, the table and the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=int, default=8)
    ap.add_argument("--critics", type=int, default=3, choices=range(1, len(CRITICS) + 1))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=5, help="measured runs, after one warm-up run")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile one more run (not in the figures); print the top 15 (cumulative)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "overhead.json")
    args = ap.parse_args(argv)

    with ChildServer() as srv, tempfile.TemporaryDirectory(prefix="redraft-bench-") as tmp:
        folder = Path(tmp)
        scenario = write_scenario(folder, args.inputs, args.critics, args.rounds)
        cold = one_run(scenario, srv, folder, profile=False)  # imports, first clients
        runs = [one_run(scenario, srv, folder, profile=False) for _ in range(args.repeat)]
        # Profiling slows the run down several times over: its run is extra and not in the figures.
        profile = one_run(scenario, srv, folder, profile=True)["profile"] if args.profile else None

    median = dict(sorted(runs, key=lambda r: r["redraft_s"])[len(runs) // 2])  # the run with the median own time
    keys = ["wall_s", "waiting_on_calls_s", "server_busy_s", "http_stack_s", "redraft_s", "writing_run_folder_s",
            "client_setup_s",
            "redraft_ms_per_message", "redraft_ms_per_call", "redraft_share_of_wall"]
    print(f"redraft overhead: {args.inputs} inputs, {args.critics} critics, {args.rounds} rounds, zero-latency server "
          f"(child process), no cache; {median['messages']} messages, {median['model_calls']} model calls per run")
    print(f"{'':<26}{'cold':>10}" + "".join(f"{'run ' + str(i + 1):>10}" for i in range(len(runs))) + f"{'median':>10}")
    for k in keys:
        print(f"{k:<26}{cold[k]:>10}" + "".join(f"{r[k]:>10}" for r in runs) + f"{median[k]:>10}")
    verdict = "under" if median["redraft_ms_per_message"] < 5 else "OVER"
    print(f"\nredraft's own time: {median['redraft_ms_per_message']:.2f} ms per message "
          f"({verdict} the 5 ms target), {median['redraft_ms_per_call']:.2f} ms per model call, "
          f"{100 * median['redraft_share_of_wall']:.0f}% of wall time; writing the run folder took "
          f"{1000 * median['writing_run_folder_s'] / median['messages']:.2f} ms per message of it "
          f"(state.json ends at {median['state_json_bytes'] // 1024} KiB, rewritten after every turn)")
    if profile:
        print("\ncProfile of one extra run (main thread: redraft, AgentChat, the OpenAI client; not in the figures):")
        print(profile)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": date.today().isoformat(),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average_1min": round(os.getloadavg()[0], 2)},
        "settings": {"inputs": args.inputs, "critics": args.critics, "rounds": args.rounds, "repeat": args.repeat},
        "cold": cold, "runs": runs, "median": median,
    }, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

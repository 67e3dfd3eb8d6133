"""A real vLLM OpenAI server (its own venv, see `make vllm-venv`) on the tests' SmolLM2 copy, and a peft adapter.

The server runs from `.venv-vllm` (or LLM_LENS_VLLM_PYTHON): vLLM pins torch and transformers versions
the app's venv does not use. It writes its caches and temporary files under a scratch folder and its
log to a file, and is stopped by its process group (vLLM starts an engine process beside the API one).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV_PYTHON = "LLM_LENS_VLLM_PYTHON"
ENV_REQUIRE = "LLM_LENS_REQUIRE_VLLM"  # `make test` sets it: a missing vLLM venv fails instead of skipping
MODEL_NAME = "SmolLM2-135M-Instruct"
ADAPTER_NAME = "smol-lora"
OTHER_ADAPTER_NAME = "tiny-llama-lora"  # made for another base model
# Ready in about 100 s on two idle cores (eager mode), 250 s measured with the machine's load near 15.
READY_SECONDS = 900
TIMEOUT = READY_SECONDS + 600  # per test (pytest-timeout): the first one also waits for the server
LOG_TAIL = 4000


@dataclass(frozen=True)
class VllmServer:
    """A running vLLM: its base URL (ending in /v1), the base model's id, and its log file."""

    base_url: str
    model: str
    log: Path
    process: subprocess.Popen


def vllm_python() -> Path:
    """The vLLM venv's interpreter: LLM_LENS_VLLM_PYTHON, else .venv-vllm/bin/python in the repository."""
    return Path(os.environ.get(ENV_PYTHON) or ROOT / ".venv-vllm" / "bin" / "python")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_command(python: Path, folder: Path, port: int, loras: dict[str, Path]) -> list[str]:
    """The verified CPU command line: float32 (bfloat16 is ~5x slower here), eager (no compile: ~100 s ready)."""
    command = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(folder),
               "--served-model-name", MODEL_NAME, "--host", "127.0.0.1", "--port", str(port),
               "--dtype", "float32", "--enforce-eager"]
    if loras:
        command += ["--enable-lora", "--lora-modules", *(f"{name}={path}" for name, path in loras.items())]
    return command


def server_env(scratch: Path) -> dict[str, str]:
    """Offline, a 2 GiB KV cache, and every cache and temporary file under scratch."""
    folders = {name: scratch / name for name in ("vllm-cache", "inductor", "tmp")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "2",
            "VLLM_CACHE_ROOT": str(folders["vllm-cache"]), "TORCHINDUCTOR_CACHE_DIR": str(folders["inductor"]),
            "TMPDIR": str(folders["tmp"]), "XDG_CACHE_HOME": str(scratch / "xdg")}


def start(folder: Path, scratch: Path, loras: dict[str, Path] | None = None) -> VllmServer:
    """Start vLLM on a free 127.0.0.1 port and return once /v1/models answers (RuntimeError with the log tail)."""
    python, port, log = vllm_python(), free_port(), scratch / "vllm.log"
    command = server_command(python, folder, port, loras or {})
    with log.open("w") as sink:  # a file, not a pipe: a full pipe would block the server
        process = subprocess.Popen(command, env=server_env(scratch), stdout=sink, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # its own process group, stopped as one
    server = VllmServer(f"http://127.0.0.1:{port}/v1", MODEL_NAME, log, process)
    try:
        wait_ready(server, READY_SECONDS)
    except BaseException:
        stop(process)
        raise
    return server


def wait_ready(server: VllmServer, seconds: float) -> list[str]:
    """Poll /v1/models once a second until it lists models; the pause is a wait on the process, so an exit ends it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{server.base_url}/models", timeout=5) as response:
                return [entry["id"] for entry in json.load(response)["data"]]
        except OSError:
            pass
        try:
            code = server.process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"vLLM exited with code {code} before it was ready:\n{tail(server.log)}")
    raise RuntimeError(f"vLLM did not answer /v1/models within {seconds:.0f} s:\n{tail(server.log)}")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's whole process group, SIGKILL to what is left of it after 30 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):  # the engine processes, and the API one if it hung
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def tail(log: Path) -> str:
    """The end of the server's log, for failure messages."""
    return log.read_text(errors="replace")[-LOG_TAIL:] if log.exists() else "(no log)"


def make_adapter(base: Path, target: Path, seed: int = 0) -> Path:
    """A LoRA adapter for the model in `base`, saved by peft (random non-zero weights, so it changes the scores)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    # init_lora_weights=False: B starts random instead of zero, as after some training.
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(target)
    return target

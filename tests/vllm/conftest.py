"""Fixtures: ONE real vLLM server per test session (base SmolLM2 plus a peft LoRA adapter), from its own venv."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "served"))

import vllm_kit  # noqa: E402
from remote_kit import model_folder  # noqa: E402


def _require_vllm() -> Path:
    """The vLLM venv's python; skipped without it, unless `make test` asked for it (then a failure)."""
    python = vllm_kit.vllm_python()
    if python.exists():
        return python
    message = f"No vLLM venv at {python.parent.parent.name}: run `make vllm-venv` (about 5 minutes, 3.5 GB)."
    if os.environ.get(vllm_kit.ENV_REQUIRE):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def smol_folder(real_model_cache) -> Path:
    """The float32 safetensors folder the tests' own cache holds: vLLM serves it, the app loads it."""
    return model_folder(real_model_cache)


HAS_PEFT = importlib.util.find_spec("peft") is not None


@pytest.fixture(scope="session")
def adapter_folder(tmp_path_factory, smol_folder) -> Path | None:
    """A LoRA adapter for SmolLM2, made by peft in the app's venv (None without peft: no adapter is served)."""
    if not HAS_PEFT:
        return None
    return vllm_kit.make_adapter(smol_folder, tmp_path_factory.mktemp("adapter") / vllm_kit.ADAPTER_NAME)


@pytest.fixture(scope="session")
def other_adapter_folder(tmp_path_factory, tiny_llama_path) -> Path | None:
    """A LoRA adapter made for another base model (the tiny Llama): vLLM loads it on SmolLM2 without a word."""
    if not HAS_PEFT:
        return None
    return vllm_kit.make_adapter(tiny_llama_path, tmp_path_factory.mktemp("adapter") / vllm_kit.OTHER_ADAPTER_NAME)


@pytest.fixture
def needs_adapters(adapter_folder) -> None:
    """Skip an adapter test where peft is missing (the server then runs without --enable-lora)."""
    if adapter_folder is None:
        pytest.skip("peft is not installed in the app's venv: no adapter to serve")


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory, smol_folder, adapter_folder, other_adapter_folder) -> vllm_kit.VllmServer:
    """vLLM serving SmolLM2 and two adapters (--enable-lora), started once and stopped by its process group."""
    _require_vllm()
    loras = {name: folder for name, folder in ((vllm_kit.ADAPTER_NAME, adapter_folder),
                                                (vllm_kit.OTHER_ADAPTER_NAME, other_adapter_folder)) if folder}
    server = vllm_kit.start(smol_folder, tmp_path_factory.mktemp("vllm"), loras)
    try:
        yield server
    finally:
        vllm_kit.stop(server.process)

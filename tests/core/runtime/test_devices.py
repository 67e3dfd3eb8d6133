"""LLM_LENS_DEVICE: cpu by default, a clear message for anything else this machine cannot use."""

from __future__ import annotations

import pytest
import torch

import core
from core.runtime import devices


def test_default_is_cpu(monkeypatch):
    monkeypatch.delenv("LLM_LENS_DEVICE", raising=False)
    assert devices.device() == torch.device("cpu")
    monkeypatch.setenv("LLM_LENS_DEVICE", " CPU ")
    assert devices.device() == torch.device("cpu")


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "tpu", "cpu;rm"])
def test_invalid_value_names_the_valid_ones(monkeypatch, bad):
    monkeypatch.setenv("LLM_LENS_DEVICE", bad)
    with pytest.raises(ValueError, match="use cpu, cuda, cuda:N or mps"):
        devices.device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this check is for machines without a GPU")
def test_cuda_without_a_gpu_says_so_before_loading(monkeypatch, tiny_llama_path):
    monkeypatch.setenv("LLM_LENS_DEVICE", "cuda")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        core.load_model(str(tiny_llama_path))


def test_models_load_onto_the_device_and_results_are_cpu_numpy(tiny_llama):
    assert devices.model_device(tiny_llama) == torch.device("cpu")
    result = core.analyze(tiny_llama, "Results come back as numpy.")
    assert result.attention.dtype == "float32" and not result.attention.flags.writeable

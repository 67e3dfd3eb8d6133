"""oneDNN linear layers: installed on load, the same numbers as F.linear, gradients and copies unaffected."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

import core
from core.runtime import fast_linear


def _linears(network: torch.nn.Module) -> list[torch.nn.Linear]:
    return [m for m in network.modules() if type(m) is torch.nn.Linear]


def test_a_loaded_model_routes_every_linear_through_onednn(tiny_llama):
    layers = _linears(tiny_llama.model)
    assert layers and all(layer.forward.__func__ is fast_linear._forward for layer in layers)


def test_onednn_gives_the_same_products_as_f_linear(tiny_llama):
    layer = _linears(tiny_llama.model)[0]
    x = torch.randn(2, 7, layer.in_features, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        fast = layer(x)
    torch.testing.assert_close(fast, F.linear(x, layer.weight, layer.bias), rtol=1e-5, atol=1e-5)


def test_whole_model_logits_match_the_default_path(tiny_llama_path, monkeypatch):
    fast = core.load_model(str(tiny_llama_path))
    monkeypatch.setenv("LLM_LENS_ONEDNN", "0")
    plain = core.load_model(str(tiny_llama_path))
    assert not any(hasattr(layer.forward, "__func__") and layer.forward.__func__ is fast_linear._forward
                   for layer in _linears(plain.model))
    ids = torch.tensor([[5, 9, 13, 2, 7, 40, 3]])
    with torch.inference_mode():
        torch.testing.assert_close(fast.model(ids).logits, plain.model(ids).logits, rtol=1e-4, atol=1e-5)


def test_the_input_gradient_matches_f_linear(tiny_llama):
    layer = _linears(tiny_llama.model)[0]
    x = torch.randn(2, 3, layer.in_features, generator=torch.Generator().manual_seed(2), requires_grad=True)
    upstream = torch.randn(2, 3, layer.out_features, generator=torch.Generator().manual_seed(3))
    (layer(x) * upstream).sum().backward()
    torch.testing.assert_close(x.grad, upstream @ layer.weight, rtol=1e-5, atol=1e-5)
    assert layer.weight.grad is None


def test_trainable_weights_take_the_default_path():
    layer = torch.nn.Linear(6, 4)
    fast_linear.install(layer)
    x = torch.randn(5, 6)
    layer(x).sum().backward()  # the oneDNN path gives no weight gradient: F.linear runs
    torch.testing.assert_close(layer.weight.grad, x.sum(0).expand(4, -1))
    assert layer.bias.grad is not None and torch.all(layer.bias.grad == 5)


def test_a_copy_runs_its_own_weights(tiny_llama):
    copied = copy.deepcopy(tiny_llama.model)
    for original, twin in zip(_linears(tiny_llama.model), _linears(copied)):
        assert twin.forward.__self__ is twin and original.forward.__self__ is original
    layer = _linears(copied)[0]
    with torch.no_grad():
        layer.weight.zero_()
        assert layer(torch.ones(1, layer.in_features)).abs().sum() == 0


@pytest.mark.parametrize("value", ["0", "off"])
def test_switched_off_by_environment(monkeypatch, value):
    monkeypatch.setenv("LLM_LENS_ONEDNN", value)
    assert fast_linear.install(torch.nn.Sequential(torch.nn.Linear(4, 4))) == 0

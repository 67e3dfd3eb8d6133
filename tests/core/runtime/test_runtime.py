"""The runtime is the one way into a shared model: gate required, named hook sites, hooks always removed."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from core.runtime import calls, gate, hooks, lanes

ROOT = Path(__file__).resolve().parents[3]
IDS = [3, 17, 5, 9, 12, 4]


def _plain(model, **inputs):
    """The network called directly, as a reference (tests may; the app may not)."""
    with torch.inference_mode():
        return model.model(torch.tensor([IDS]), **inputs)


def test_forward_refuses_to_run_without_the_gate(tiny_llama):
    with pytest.raises(calls.GateNotHeld, match="inference gate"):
        calls.forward(tiny_llama, torch.tensor([IDS]))
    with pytest.raises(calls.GateNotHeld):
        calls.embed(tiny_llama, [IDS])
    with gate.inference(tiny_llama):
        logits = calls.logits(tiny_llama, [IDS], keep=len(IDS))
    np.testing.assert_array_equal(logits, _plain(tiny_llama).logits.float().numpy())


def test_a_lane_works_for_the_gate_holder_but_a_stranger_thread_does_not(tiny_llama):
    def job():
        return calls.logits(tiny_llama, [IDS])

    with gate.inference(tiny_llama):
        first, second = lanes.run([job, job])  # the second runs on a lane thread
    np.testing.assert_array_equal(first, second)
    errors = []
    stranger = threading.Thread(target=lambda: errors.append(_attempt(job)))
    with gate.inference(tiny_llama):
        stranger.start()
        stranger.join()
    assert isinstance(errors[0], calls.GateNotHeld)


def _attempt(job):
    try:
        job()
    except Exception as error:  # noqa: BLE001  the test inspects what was raised
        return error
    return None


def test_cached_sites_equal_the_models_own_hidden_states(tiny_decoder):
    layers = tiny_decoder.info.layers
    names = [f"blocks.{layer}.hook_resid_pre" for layer in range(layers)]
    names += [f"blocks.{layer}.hook_resid_post" for layer in range(layers - 1)]
    logits, found = hooks.run_with_cache(tiny_decoder, IDS, names)
    plain = _plain(tiny_decoder, output_hidden_states=True)
    for layer in range(layers):  # hidden_states[l] is what enters layer l
        np.testing.assert_allclose(found[f"blocks.{layer}.hook_resid_pre"], plain.hidden_states[layer][0], atol=1e-6)
    for layer in range(layers - 1):
        np.testing.assert_allclose(found[f"blocks.{layer}.hook_resid_post"], plain.hidden_states[layer + 1][0],
                                   atol=1e-6)
    np.testing.assert_allclose(logits, plain.logits[0].float().numpy(), atol=1e-6)
    assert hooks.hooks_left(tiny_decoder) == 0


def test_head_outputs_have_the_transformerlens_shape_and_sum_to_the_attention_write(tiny_decoder):
    info = tiny_decoder.info
    z = hooks.head_outputs(tiny_decoder, IDS)
    assert z.shape == (info.layers, len(IDS), info.heads, info.head_dim)
    _, found = hooks.run_with_cache(tiny_decoder, IDS, ["blocks.0.hook_attn_out"])
    parts = hooks.arch(tiny_decoder)
    with torch.inference_mode():
        write = sum(torch.from_numpy(z[0, :, h]) @ hooks.head_weight(parts, 0, h) for h in range(info.heads))
        bias = getattr(parts.out_proj[0], "bias", None)
        write = write + (bias if bias is not None else 0)
    np.testing.assert_allclose(found["blocks.0.hook_attn_out"], write.numpy(), atol=1e-5)


def test_zeroing_a_head_through_its_site_equals_a_plain_torch_edit(tiny_llama):
    def zero_head(z, site):
        z = z.clone()
        z[:, :, 1] = 0.0
        return z

    ours = hooks.run_with_hooks(tiny_llama, [IDS], [("blocks.1.attn.hook_z", zero_head)])[0, -1]
    head_dim = tiny_llama.info.head_dim

    def reference(module, args):  # the same edit written against the module, as the reference
        flat = args[0].clone()
        flat[:, :, head_dim:2 * head_dim] = 0.0
        return (flat,)

    handle = tiny_llama.model.model.layers[1].self_attn.o_proj.register_forward_pre_hook(reference)
    try:
        expected = _plain(tiny_llama).logits[0, -1].float().numpy()
    finally:
        handle.remove()
    np.testing.assert_allclose(ours, expected, atol=1e-6)
    assert np.abs(ours - _plain(tiny_llama).logits[0, -1].float().numpy()).max() > 1e-4  # the edit mattered


def test_hooks_are_removed_when_the_body_fails_and_unknown_sites_add_none(tiny_decoder):
    with pytest.raises(RuntimeError, match="fails"), hooks.hooks(tiny_decoder, [("blocks.0.hook_mlp_out",
                                                                                 lambda v, s: None)]):
        assert hooks.hooks_left(tiny_decoder) == 1
        raise RuntimeError("the body fails")
    assert hooks.hooks_left(tiny_decoder) == 0
    bad = [("blocks.0.hook_resid_pre", lambda v, s: None), ("blocks.99.hook_resid_pre", lambda v, s: None)]
    with pytest.raises(ValueError, match="No hook site 'blocks.99"), hooks.hooks(tiny_decoder, bad):
        pass
    assert hooks.hooks_left(tiny_decoder) == 0


def test_sites_are_resolved_once_per_network(tiny_decoder):
    assert hooks.arch(tiny_decoder) is hooks.arch(tiny_decoder)


def _network_calls(path: Path) -> list[str]:
    """Places that call a model's network directly: x.model(...), x.model.forward(...), an embedding layer."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        direct = isinstance(func, ast.Attribute) and func.attr == "model"
        forward = isinstance(func, ast.Attribute) and func.attr == "forward" and \
            isinstance(func.value, ast.Attribute) and func.value.attr == "model"
        layer = isinstance(func, ast.Call) and isinstance(func.func, ast.Attribute) and \
            func.func.attr in ("get_input_embeddings", "get_output_embeddings")
        if direct or forward or layer:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_nothing_outside_the_runtime_calls_the_network():
    files = [p for folder in ("core", "ui", "viz", "app_pages", "bench") for p in (ROOT / folder).rglob("*.py")]
    files.append(ROOT / "app.py")
    outside = [p for p in files if "runtime" not in p.relative_to(ROOT).parts]
    assert len(outside) > 50
    offenders = [place for path in outside for place in _network_calls(path)]
    assert not offenders, f"call the network through core.runtime.calls instead: {offenders}"


def test_the_source_walk_would_see_a_direct_call(tmp_path):
    sample = ROOT / "tests" / "core" / "runtime" / "test_runtime.py"  # this file calls the network itself
    assert _network_calls(sample)

"""Analyze requests waiting together run as one padded forward pass, equal to one-by-one passes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from threads_kit import start_queued

import core
from core.runtime import batching, gate

PROMPTS = ["The river bank was muddy after the rain.", "Hi", "A", "Paris is the capital of France and",
           "one two three four five six seven eight nine ten eleven"]


def _alone(model: core.LoadedModel, text: str) -> dict:
    """A plain unpadded forward of one prompt: the reference the batch must reproduce."""
    ids = torch.from_numpy(core.tokenize(model, text).ids)[None]
    with torch.inference_mode():
        out = model.model(ids, output_attentions=True, output_hidden_states=True)
    logits = getattr(out, "logits", None) if model.info.is_decoder else None
    return {
        "attention": torch.cat(out.attentions).numpy(),
        "hidden_states": torch.cat(out.hidden_states).numpy(),
        "logits": None if logits is None else logits[0, -1].numpy(),
    }


def _analyze_together(model: core.LoadedModel, prompts: list[str]) -> tuple[list, list[int]]:
    """Queue every prompt behind a held gate, then release it so they are served together."""
    results: dict[int, core.Analysis] = {}
    before = len(batching.BATCHER.batch_sizes)
    with gate.hold(model):
        threads = [start_queued(lambda i=i, p=p: results.__setitem__(i, core.analyze(model, p)))
                   for i, p in enumerate(prompts)]
        assert gate.GATE.waiting(gate.gate_key(model)) == len(prompts) + 1  # all queued behind the holder
    for thread in threads:
        thread.join(30)
    return [results[i] for i in range(len(prompts))], list(batching.BATCHER.batch_sizes)[before:]


@pytest.mark.parametrize("name", ["tiny_llama", "tiny_gpt2", "tiny_bert"])
def test_batched_equals_one_by_one(name, request):
    model = request.getfixturevalue(name)
    together, sizes = _analyze_together(model, PROMPTS)
    assert sizes == [len(PROMPTS)]  # one leader ran all five; the others only collected results
    for text, result in zip(PROMPTS, together):
        alone = _alone(model, text)
        n = len(result.tokens)
        assert result.attention.shape == (model.info.layers, model.info.heads, n, n)
        np.testing.assert_allclose(result.attention, alone["attention"], atol=1e-5)
        np.testing.assert_allclose(result.hidden_states, alone["hidden_states"], atol=1e-5)
        np.testing.assert_allclose(result.attention.sum(-1), 1.0, atol=1e-5)  # no weight leaks onto padding
        if model.info.is_decoder:
            np.testing.assert_allclose(result.next_token_logits, alone["logits"], atol=1e-5)
        else:
            assert result.next_token_logits is None


def test_results_do_not_share_the_batch_memory(tiny_llama):
    together, _ = _analyze_together(tiny_llama, PROMPTS[:2])
    for result in together:
        for array in (result.attention, result.hidden_states, result.embeddings, result.next_token_logits):
            assert not array.flags.writeable
            assert array.base is None or array.base.nbytes == array.nbytes  # not a view into the padded batch


def test_batch_respects_the_memory_bound(tiny_llama, monkeypatch):
    one = batching.batch_bytes(tiny_llama, [len(core.tokenize(tiny_llama, PROMPTS[-1]).ids)] * 2)
    monkeypatch.setattr(batching.BATCHER, "max_batch_bytes", one)  # room for two prompts of that length
    prompts = [PROMPTS[-1]] * 2 + [PROMPTS[-1] + " twelve"] * 3
    together, sizes = _analyze_together(tiny_llama, prompts)
    assert sum(sizes) == len(prompts) and max(sizes) <= 2
    np.testing.assert_array_equal(together[0].attention, together[1].attention)


def test_a_failing_batch_fails_every_member_and_frees_the_gate(tiny_llama, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(batching, "_padded_forward", broken)
    errors: list = []

    def run(text):
        try:
            core.analyze(tiny_llama, text)
        except RuntimeError as error:
            errors.append(str(error))

    with gate.hold(tiny_llama):
        threads = [start_queued(lambda p=p: run(p)) for p in PROMPTS[:3]]
        assert gate.GATE.waiting(gate.gate_key(tiny_llama)) == 4
    for thread in threads:
        thread.join(10)
    assert errors == ["out of memory"] * 3
    assert gate.GATE.waiting(gate.gate_key(tiny_llama)) == 0


def test_nested_inside_a_held_gate_runs_alone(tiny_llama):
    with gate.hold(tiny_llama):  # e.g. analyze called from code that already holds the gate
        result = core.analyze(tiny_llama, PROMPTS[0])
    np.testing.assert_allclose(result.attention, _alone(tiny_llama, PROMPTS[0])["attention"], atol=1e-5)

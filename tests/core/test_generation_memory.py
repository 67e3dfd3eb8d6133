"""Generation keeps only what it needs: the prefill computes the last position's logits alone."""

from __future__ import annotations

import torch

import core
from core import prediction


def _logit_shapes(model: core.LoadedModel, run) -> list[tuple[int, ...]]:
    shapes: list[tuple[int, ...]] = []
    handle = model.model.register_forward_hook(lambda module, args, out: shapes.append(tuple(out.logits.shape)))
    try:
        run()
    finally:
        handle.remove()
    return shapes


def test_logits_to_keep_gives_the_last_position_unchanged(tiny_decoder):
    ids = torch.from_numpy(core.tokenize(tiny_decoder, "A prompt of a handful of tokens here").ids)[None]
    with torch.inference_mode():
        full = tiny_decoder.model(ids).logits
        last = tiny_decoder.model(ids, logits_to_keep=1).logits
    assert last.shape == (1, 1, full.shape[-1]) and full.shape[1] == ids.shape[1] > 1
    torch.testing.assert_close(last[:, 0], full[:, -1], atol=1e-5, rtol=1e-5)


def test_generation_prefill_keeps_one_position_per_prompt(tiny_decoder):
    settings = core.GenerationSettings(max_new_tokens=4, do_sample=True, seed=3)
    prompts = ["The river bank was muddy after the rain", "Hi"] * 2
    shapes = _logit_shapes(tiny_decoder, lambda: core.generate(tiny_decoder, prompts, settings))
    assert shapes and all(shape[:2] == (len(prompts), 1) for shape in shapes)  # prefill included


def test_step_prediction_keeps_one_position(tiny_decoder):
    shapes = _logit_shapes(tiny_decoder, lambda: prediction.predict_step(tiny_decoder, "One two three", (5, 6)))
    assert shapes == [(1, 1, tiny_decoder.info.vocab_size)]

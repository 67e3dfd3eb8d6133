"""Logit lens on tiny decoders: shapes, the last layer is the model's own prediction, encoders refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import core
from core import lens
from core.analysis import softmax

PROMPT = "The capital of France is Paris. The river bank"


def _real_logits(model: core.LoadedModel, analysis: core.Analysis) -> np.ndarray:
    """(pos, vocab) the model's own logits at every position, from a separate forward pass."""
    with torch.inference_mode():
        return model.model(torch.from_numpy(analysis.tokens.ids)[None]).logits[0].float().numpy()


def test_shape_is_layers_plus_embeddings_by_positions(tiny_decoder):
    analysis = core.analyze(tiny_decoder, PROMPT)
    result = lens.logit_lens(tiny_decoder, analysis)
    shape = (tiny_decoder.info.layers + 1, len(analysis.tokens))
    assert result.top_ids.shape == result.top_probs.shape == result.final_probs.shape == shape
    assert len(result.top_labels) == shape[0] and all(len(row) == shape[1] for row in result.top_labels)
    assert result.labels == analysis.tokens.labels
    assert not result.final_probs.flags.writeable


def test_last_layer_equals_the_models_own_prediction(tiny_decoder):
    analysis = core.analyze(tiny_decoder, PROMPT)
    result = lens.logit_lens(tiny_decoder, analysis)
    probs = softmax(_real_logits(tiny_decoder, analysis))  # (pos, vocab)
    np.testing.assert_array_equal(result.top_ids[-1], probs.argmax(axis=-1))
    np.testing.assert_allclose(result.top_probs[-1], probs.max(axis=-1), rtol=1e-4)
    np.testing.assert_allclose(result.final_probs[-1], probs.max(axis=-1), rtol=1e-4)
    assert result.final_ids[-1] == int(np.argmax(analysis.next_token_logits))


def test_earlier_layers_go_through_the_final_norm(tiny_decoder):
    analysis = core.analyze(tiny_decoder, PROMPT)
    result = lens.logit_lens(tiny_decoder, analysis)
    head = tiny_decoder.model.get_output_embeddings().weight.detach().numpy()  # (vocab, d_model)
    norm = lens.final_norm(tiny_decoder)
    with torch.inference_mode():
        normed = norm(torch.from_numpy(np.array(analysis.hidden_states[1]))).numpy()
    probs = softmax(normed @ head.T)  # layer 1, by hand
    np.testing.assert_array_equal(result.top_ids[1], probs.argmax(axis=-1))
    final = result.final_ids
    np.testing.assert_allclose(result.final_probs[1], probs[np.arange(len(final)), final], rtol=1e-4)


def test_probabilities_are_valid_and_the_top_is_at_least_the_final(tiny_decoder):
    result = lens.logit_lens(tiny_decoder, core.analyze(tiny_decoder, PROMPT))
    assert ((result.final_probs >= 0) & (result.top_probs <= 1 + 1e-9)).all()
    assert (result.top_probs >= result.final_probs - 1e-9).all()


def test_long_text_keeps_the_last_positions(tiny_llama):
    analysis = core.analyze(tiny_llama, "word " * 30)
    result = lens.logit_lens(tiny_llama, analysis, max_positions=8)
    n = len(analysis.tokens)
    assert result.positions.tolist() == list(range(n - 8, n))
    assert result.top_ids.shape == (tiny_llama.info.layers + 1, 8)
    assert result.labels == analysis.tokens.labels[-8:]
    with pytest.raises(ValueError, match="at least 1"):
        lens.logit_lens(tiny_llama, analysis, max_positions=0)


def test_encoder_and_a_mismatched_analysis_are_refused(tiny_bert, tiny_llama, tiny_gpt2):
    with pytest.raises(ValueError, match="encoder"):
        lens.logit_lens(tiny_bert, core.analyze(tiny_bert, PROMPT))
    with pytest.raises(ValueError, match="analysis is of"):
        lens.logit_lens(tiny_llama, core.analyze(tiny_gpt2, PROMPT))


@pytest.mark.slow
def test_real_model_last_layer_says_paris(smollm2):
    result = lens.logit_lens(smollm2, core.analyze(smollm2, "The capital of France is"))
    assert smollm2.tokenizer.decode([int(result.final_ids[-1])]) == " Paris"
    assert result.top_labels[-1][-1] == "·Paris"
    assert result.final_probs[-1, -1] > result.final_probs[1, -1]  # the answer forms in later layers

"""One forward pass: attention invariants, shapes, next-token distribution, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import core

TEXT = "The river bank was muddy after the rain."


def test_shapes_and_rows_sum_to_one(tiny_decoder):
    result = core.analyze(tiny_decoder, TEXT)
    info, n = tiny_decoder.info, len(result.tokens)
    assert result.attention.shape == (info.layers, info.heads, n, n)
    assert result.hidden_states.shape == (info.layers + 1, n, info.d_model)
    assert result.embeddings.shape == (n, info.d_model)
    np.testing.assert_allclose(result.attention.sum(axis=-1), 1.0, atol=1e-5)


def test_decoder_attention_is_causal(tiny_decoder):
    attention = core.analyze(tiny_decoder, TEXT).attention
    upper = np.triu(np.ones(attention.shape[-2:], dtype=bool), k=1)
    assert np.all(attention[..., upper] == 0)
    assert np.all(attention[..., 0, 0] == pytest.approx(1.0))  # the first token can only see itself


def test_encoder_attention_sees_the_future(tiny_bert):
    result = core.analyze(tiny_bert, TEXT)
    upper = np.triu(np.ones(result.attention.shape[-2:], dtype=bool), k=1)
    assert result.attention[..., upper].min() > 0
    assert result.next_token_logits is None and result.next_token_probs is None
    np.testing.assert_allclose(result.attention.sum(axis=-1), 1.0, atol=1e-5)


def test_embeddings_are_the_token_rows_of_the_embedding_matrix(tiny_llama):
    result = core.analyze(tiny_llama, TEXT)
    matrix = tiny_llama.model.get_input_embeddings().weight.detach().numpy()
    np.testing.assert_allclose(result.embeddings, matrix[result.tokens.ids], atol=1e-6)


def test_next_token_distribution(tiny_decoder):
    probs = core.analyze(tiny_decoder, TEXT).next_token_probs
    assert probs.shape == (tiny_decoder.info.vocab_size,)
    assert probs.sum() == pytest.approx(1.0)
    assert probs.min() >= 0


def test_results_are_read_only(tiny_llama):
    result = core.analyze(tiny_llama, TEXT)
    with pytest.raises(ValueError):
        result.attention[0, 0, 0, 0] = 1.0


def test_same_text_gives_same_numbers(tiny_llama):
    first, second = core.analyze(tiny_llama, TEXT), core.analyze(tiny_llama, TEXT)
    np.testing.assert_array_equal(first.attention, second.attention)


@pytest.mark.parametrize("text", ["", "   \n "])
def test_empty_text_is_refused(tiny_llama, text):
    with pytest.raises(ValueError, match="empty"):
        core.analyze(tiny_llama, text)


def test_text_past_the_context_window_names_the_limit(tiny_llama):
    with pytest.raises(ValueError, match="context window is 128"):
        core.analyze(tiny_llama, "word " * 400, max_tokens=None)


def test_configurable_cap_names_the_limit(tiny_llama):
    with pytest.raises(ValueError, match="limited to 5 tokens"):
        core.analyze(tiny_llama, TEXT, max_tokens=5)


def test_huge_text_is_refused_before_tokenizing(tiny_llama):
    with pytest.raises(ValueError, match="120,000"):
        core.analyze(tiny_llama, "a" * 150_000)

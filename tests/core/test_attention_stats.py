"""Attention statistics on hand-made maps with known answers, and on tiny real models."""

from __future__ import annotations

import io

import numpy as np
import pytest

import core
from core import attention_stats as stats


def _stack(*maps: np.ndarray) -> np.ndarray:
    """(head, query, key) maps as one layer: (1, head, query, key)."""
    return np.stack(maps)[None].astype(np.float32)


def _uniform_causal(n: int) -> np.ndarray:
    return np.tril(np.ones((n, n))) / np.arange(1, n + 1)[:, None]


def _previous_token(n: int) -> np.ndarray:
    weights = np.zeros((n, n))
    weights[0, 0] = 1
    weights[np.arange(1, n), np.arange(n - 1)] = 1
    return weights


def test_summary_of_hand_made_heads():
    n = 5
    summary = stats.head_summary(_stack(np.eye(n), _previous_token(n), _uniform_causal(n)))
    identity, previous, uniform = (summary.iloc[i] for i in range(3))
    assert list(summary.columns) == list(stats.SUMMARY_COLUMNS)
    assert identity.entropy_bits == pytest.approx(0.0)
    assert identity.first_token == pytest.approx(1 / n)  # only query 0 looks at key 0
    assert identity.previous_token == pytest.approx(0.0)
    assert identity.mean_distance == pytest.approx(0.0)
    assert previous.previous_token == pytest.approx(1.0)
    assert previous.first_token == pytest.approx(2 / n)  # queries 0 and 1
    assert previous.mean_distance == pytest.approx((n - 1) / n)
    assert uniform.entropy_bits == pytest.approx(np.mean(np.log2(np.arange(1, n + 1))))
    assert uniform.first_token == pytest.approx(np.mean(1 / np.arange(1, n + 1)))
    assert uniform.mean_distance == pytest.approx(np.mean(np.arange(n) / 2))
    assert summary[["layer", "head"]].values.tolist() == [[0, 0], [0, 1], [0, 2]]


def test_summary_orders_layers_then_heads():
    attention = np.broadcast_to(_uniform_causal(4), (3, 2, 4, 4)).copy()
    attention[2, 1] = np.eye(4)
    summary = stats.head_summary(attention)
    assert len(summary) == 6
    lowest = summary.loc[summary.entropy_bits.idxmin()]
    assert (lowest["layer"], lowest["head"]) == (2, 1)


def test_hide_first_token_renormalises_rows():
    n = 6
    sink = np.zeros((n, n))
    sink[:, 0] = 0.5
    sink[np.arange(n), np.arange(n)] += 0.5  # half on the first token, half on itself
    sink[0, 0] = 1.0
    hidden = stats.hide_first_token(_stack(sink, _uniform_causal(n)))
    assert hidden.shape == (1, 2, n - 1, n - 1)
    np.testing.assert_allclose(hidden[0, 0], np.eye(n - 1), atol=1e-6)  # all that is left: itself
    np.testing.assert_allclose(hidden[0, 1], _uniform_causal(n - 1), atol=1e-6)
    np.testing.assert_allclose(hidden.sum(-1), 1.0, atol=1e-6)


def test_hide_first_token_leaves_empty_rows_at_zero_and_needs_two_tokens():
    only_first = np.zeros((3, 3))
    only_first[:, 0] = 1.0
    hidden = stats.hide_first_token(_stack(only_first))
    assert np.all(hidden == 0) and not np.isnan(hidden).any()
    with pytest.raises(ValueError, match="at least 2 tokens"):
        stats.hide_first_token(np.ones((1, 1, 1, 1), dtype=np.float32))


def test_rollout_of_identity_layers_is_identity_and_rows_sum_to_one():
    n = 4
    identity = np.broadcast_to(np.eye(n), (3, 2, n, n))
    np.testing.assert_allclose(stats.attention_rollout(identity), np.broadcast_to(np.eye(n), (3, n, n)), atol=1e-6)
    rng = np.random.default_rng(0)
    random = rng.random((5, 3, 7, 7))
    random /= random.sum(-1, keepdims=True)
    rollout = stats.attention_rollout(random)
    assert rollout.shape == (5, 7, 7)
    np.testing.assert_allclose(rollout.sum(-1), 1.0, atol=1e-5)


def test_rollout_first_layer_mixes_in_the_residual():
    n = 3
    first = _stack(_uniform_causal(n))
    expected = 0.5 * _uniform_causal(n) + 0.5 * np.eye(n)
    np.testing.assert_allclose(stats.attention_rollout(first)[0], expected, atol=1e-6)
    two_layers = np.concatenate([first, first])
    np.testing.assert_allclose(stats.attention_rollout(two_layers)[1], expected @ expected, atol=1e-6)


def test_attention_view_modes():
    rng = np.random.default_rng(1)
    attention = rng.random((3, 4, 5, 5)).astype(np.float32)
    attention /= attention.sum(-1, keepdims=True)
    heads = stats.attention_view(attention, combine="heads")
    layers = stats.attention_view(attention, combine="layers")
    rollout = stats.attention_view(attention, hide_first=True, combine="rollout")
    assert heads.weights.shape == (3, 1, 5, 5) and heads.head_labels == ("mean",)
    np.testing.assert_allclose(heads.weights[1, 0], attention[1].mean(0), atol=1e-6)
    assert layers.weights.shape == (1, 4, 5, 5) and layers.layer_labels == ("mean",)
    np.testing.assert_allclose(layers.weights[0, 2], attention[:, 2].mean(0), atol=1e-6)
    assert rollout.weights.shape == (3, 1, 4, 4) and rollout.first_position == 1
    assert not rollout.weights.flags.writeable
    with pytest.raises(ValueError, match="rollout"):
        stats.attention_view(attention, combine="median")


def test_top_attended_lists_the_strongest_keys():
    weights = np.array([[1, 0, 0], [0.2, 0.8, 0], [0.1, 0.6, 0.3]])
    table = stats.top_attended(weights, ("a", "b", "b"), range(1, 3), k=2)
    assert table["position"].tolist() == [1, 2]
    assert table["looks most at"].tolist()[1] == "b #1 (0.60), b #2 (0.30)"


def test_exports_round_trip(tiny_llama):
    analysis = core.analyze(tiny_llama, "The river bank")
    csv = stats.head_csv(analysis.attention[1, 2], analysis.tokens.labels)
    lines = csv.strip().splitlines()
    assert len(lines) == len(analysis.tokens) + 1
    assert float(lines[1].split(",")[1]) == pytest.approx(float(analysis.attention[1, 2, 0, 0]))
    loaded = np.load(io.BytesIO(stats.attention_npz(analysis)))
    np.testing.assert_array_equal(loaded["attention"], analysis.attention)
    assert tuple(loaded["token_labels"]) == analysis.tokens.labels


def test_decoders_are_causal_and_rows_sum_to_one(tiny_decoder):
    attention = core.analyze(tiny_decoder, "The capital of France is Paris.").attention
    np.testing.assert_allclose(attention.sum(-1), 1.0, atol=1e-5)
    assert np.abs(np.triu(attention, 1)).max() == 0
    summary = stats.head_summary(attention)
    assert (summary.mean_distance >= 0).all() and (summary.entropy_bits >= 0).all()


def test_encoder_attends_to_the_future(tiny_bert):
    attention = core.analyze(tiny_bert, "The capital of France is Paris.").attention
    np.testing.assert_allclose(attention.sum(-1), 1.0, atol=1e-5)
    assert np.triu(attention, 1).max() > 0.01


def test_answer_is_appended_and_the_prompt_boundary_found(tiny_llama):
    prompt = "The capital of France is"
    answered = stats.analyze_with_answer(tiny_llama, prompt, new_tokens=4)
    prompt_ids = core.tokenize(tiny_llama, prompt).ids
    ids = answered.analysis.tokens.ids
    assert answered.analysis.tokens.text == prompt + answered.answer
    assert 0 < answered.prompt_tokens <= len(prompt_ids)
    np.testing.assert_array_equal(ids[: answered.prompt_tokens], prompt_ids[: answered.prompt_tokens])
    assert answered.analysis.attention.shape[-1] == len(ids)
    with pytest.raises(ValueError, match="between 1 and"):
        stats.analyze_with_answer(tiny_llama, prompt, new_tokens=0)


def test_encoders_cannot_answer(tiny_bert):
    with pytest.raises(ValueError, match="encoder"):
        stats.analyze_with_answer(tiny_bert, "Hello", new_tokens=2)


@pytest.mark.parametrize("cap", [3, 10, 25])
def test_prefix_analysis_fits_the_cap(tiny_bert, tiny_llama, cap):
    text = "Attention lets every token look at every other token. The river bank was muddy."
    for model in (tiny_bert, tiny_llama):
        full = core.tokenize(model, text)
        prefix = stats.analyze_prefix(model, text, cap)
        assert 1 <= len(prefix.tokens) <= cap
        assert text.startswith(prefix.tokens.text)
        if len(full) <= cap:
            assert prefix.tokens.text == text
        else:
            assert cap - 2 <= len(prefix.tokens) < len(full)


@pytest.mark.slow
def test_real_attention_shapes(smollm2, minilm):
    text = "The capital of France is Paris."
    decoder = core.analyze(smollm2, text)
    encoder = core.analyze(minilm, text)
    assert decoder.attention.shape == (30, 9, len(decoder.tokens), len(decoder.tokens))
    assert encoder.attention.shape == (6, 12, len(encoder.tokens), len(encoder.tokens))
    assert np.triu(decoder.attention, 1).max() == 0 and np.triu(encoder.attention, 1).max() > 0.01
    # Real decoders park much weight on the first token (the attention sink) in later layers.
    summary = stats.head_summary(decoder.attention)
    assert summary[summary.layer >= 10].first_token.mean() > 0.3

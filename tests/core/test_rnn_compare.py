"""RNN vs attention on the tiny Llama: steps, path length, and how gradients fade with distance."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from core.rnn_compare import compare

SHORT = "The cat sat."
LONG = "The capital of France is Paris. The river bank was muddy after the rain in London."


@pytest.mark.parametrize("text", [SHORT, LONG])
def test_rnn_needs_n_steps_and_attention_one(tiny_llama, text):
    result = compare(tiny_llama, text)
    n = len(tiny_llama.tokenizer(text, add_special_tokens=False)["input_ids"])
    assert len(result.labels) == n > 2
    assert (result.rnn_steps, result.attention_steps) == (n, 1)
    assert (result.rnn_path, result.attention_path) == (n - 1, 1)
    for gradient in (result.rnn_gradient, result.gru_gradient, result.attention_gradient):
        assert gradient.shape == (n,) and np.all(np.isfinite(gradient)) and np.all(gradient >= 0)
        assert not gradient.flags.writeable


@pytest.mark.parametrize("embedding", ["model", "random"])
def test_rnn_gradient_to_the_first_token_fades_relative_to_attention(tiny_llama, embedding):
    short, long = compare(tiny_llama, SHORT, embedding), compare(tiny_llama, LONG, embedding)
    for result in (short, long):
        rnn = result.first_to_last_ratio(result.rnn_gradient)
        attention = result.first_to_last_ratio(result.attention_gradient)
        assert rnn < attention / 10
    # The further the first token is from the end, the less of the RNN's gradient reaches it…
    rnn_short = short.first_to_last_ratio(short.rnn_gradient)
    rnn_long = long.first_to_last_ratio(long.rnn_gradient)
    assert rnn_long < rnn_short / 1000
    # …while attention keeps the first token within reach at any distance.
    assert long.first_to_last_ratio(long.attention_gradient) > 0.05


def test_rnn_gradient_falls_with_distance_along_the_sentence(tiny_llama):
    result = compare(tiny_llama, LONG)
    log_gradient = np.log(result.rnn_gradient)
    slope = np.polyfit(result.distance, log_gradient, 1)[0]
    assert slope < -0.3  # roughly exponential decay per step back in time
    assert np.polyfit(result.distance, np.log(result.attention_gradient), 1)[0] > -0.1


def test_same_seed_same_numbers_other_seed_other_numbers(tiny_llama):
    first, again = compare(tiny_llama, SHORT, seed=3), compare(tiny_llama, SHORT, seed=3)
    np.testing.assert_array_equal(first.rnn_gradient, again.rnn_gradient)
    other = compare(tiny_llama, SHORT, seed=4)
    assert not np.allclose(first.rnn_gradient, other.rnn_gradient)


def test_shared_model_is_not_changed(tiny_llama):
    before = {k: v.clone() for k, v in tiny_llama.model.state_dict().items()}
    compare(tiny_llama, LONG)
    after = tiny_llama.model.state_dict()
    assert all(np.array_equal(before[k].numpy(), after[k].numpy()) for k in before)
    assert all(p.grad is None and not p.requires_grad for p in tiny_llama.model.parameters())


@pytest.mark.parametrize("embedding", ["model", "random"])
def test_global_random_state_is_unchanged(tiny_llama, embedding):
    # Other sessions' seeded sampling shares torch's global generator: compare() must not move it.
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    result = compare(tiny_llama, LONG, embedding=embedding, hidden=16, seed=7)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.rand(1).item() == _first_draw(1234)  # the next global draw is still the seed's first one
    assert np.isfinite(result.gru_gradient).all()


def _first_draw(seed: int) -> float:
    return torch.rand(1, generator=torch.Generator().manual_seed(seed)).item()


def test_hostile_and_emoji_text_is_just_tokens(tiny_llama):
    result = compare(tiny_llama, "</script><script>alert(1)</script> 👍🏽")
    assert result.rnn_steps == len(result.labels)


@pytest.mark.parametrize(
    "kwargs,message",
    [({"text": ""}, "empty"), ({"text": "word " * 300}, "limited to 256 tokens"),
     ({"text": "hi there", "embedding": "onehot"}, "model, random"), ({"text": "hi there", "hidden": 2}, "between 4")],
)
def test_bad_input_is_a_clear_value_error(tiny_llama, kwargs, message):
    with pytest.raises(ValueError, match=message):
        compare(tiny_llama, **kwargs)


def test_table_has_one_column_per_network(tiny_llama):
    table = compare(tiny_llama, SHORT).table()
    assert list(table.columns) == ["measure", "RNN (tanh)", "GRU", "Self-attention"]
    assert table.loc[0, "Self-attention"] == "1"


def test_text_without_tokens_is_a_value_error(tiny_llama, monkeypatch):
    # Real normalisers (BERT's) can drop every character of a text, e.g. only control characters.
    from core import rnn_compare

    real = rnn_compare.tokenize
    monkeypatch.setattr(
        rnn_compare, "tokenize",
        lambda model, text, add_special_tokens: dataclasses.replace(real(model, "x"), ids=np.zeros(0, np.int64)),
    )
    with pytest.raises(ValueError, match="no tokens"):
        compare(tiny_llama, "\x00\x01")


def test_single_token_has_no_distance_to_cover(tiny_llama):
    result = compare(tiny_llama, "T")
    assert (result.rnn_steps, result.rnn_path, result.attention_path) == (1, 0, 0)
    assert result.first_to_last_ratio(result.rnn_gradient) == 1.0

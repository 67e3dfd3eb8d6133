"""Temperature, top-k and top-p on hand-made logits: exact surviving sets and renormalised probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.sampling import GenerationSettings, choose_next, filter_logits


def _logits(*probs: float) -> torch.Tensor:
    return torch.log(torch.tensor(probs, dtype=torch.float32))


def _after(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0):
    filtered = filter_logits(logits, temperature, top_k, top_p)
    kept = set(torch.nonzero(torch.isfinite(filtered)).flatten().tolist())
    return kept, torch.softmax(filtered.double(), dim=-1).numpy()


def test_top_k_keeps_the_k_most_likely_and_renormalises():
    kept, probs = _after(_logits(0.1, 0.4, 0.2, 0.3), top_k=2)
    assert kept == {1, 3}
    np.testing.assert_allclose(probs, [0, 4 / 7, 0, 3 / 7], atol=1e-6)


def test_top_k_keeps_every_token_tied_with_the_kth():
    kept, _ = _after(_logits(0.5, 0.25, 0.125, 0.125), top_k=3)
    assert kept == {0, 1, 2, 3}


@pytest.mark.parametrize(
    ("top_p", "expected"),
    [
        (0.0, {0}),  # top-p 0 still keeps the single best token
        (0.4, {0}),
        (0.41, {0, 1}),  # 0.4 alone is short of 0.41, so the second token joins
        (0.69, {0, 1}),  # 0.4 + 0.3 passes 0.69: no third token needed
        (0.75, {0, 1, 2}),
        (0.95, {0, 1, 2, 3}),
        (1.0, {0, 1, 2, 3}),
    ],
)
def test_top_p_keeps_the_smallest_nucleus_reaching_p(top_p, expected):
    kept, probs = _after(_logits(0.4, 0.3, 0.2, 0.1), top_p=top_p)
    assert kept == expected
    original = np.array([0.4, 0.3, 0.2, 0.1])
    mask = np.isin(np.arange(4), sorted(expected))
    np.testing.assert_allclose(probs, np.where(mask, original, 0) / original[mask].sum(), atol=1e-6)


def test_top_p_applies_to_the_distribution_left_by_top_k():
    # Within the top 3 (0.4, 0.3, 0.2 renormalised to 0.44, 0.33, 0.22) the first two already pass 0.75.
    kept, probs = _after(_logits(0.4, 0.3, 0.2, 0.1), top_k=3, top_p=0.75)
    assert kept == {0, 1}
    np.testing.assert_allclose(probs, [4 / 7, 3 / 7, 0, 0], atol=1e-6)


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_temperature_raises_probabilities_to_the_power_one_over_t(temperature):
    original = np.array([0.5, 0.25, 0.125, 0.125])
    kept, probs = _after(_logits(*original), temperature=temperature)
    expected = original ** (1 / temperature)
    assert kept == {0, 1, 2, 3}
    np.testing.assert_allclose(probs, expected / expected.sum(), atol=1e-6)


def test_low_temperature_concentrates_on_the_top_token():
    _, cold = _after(_logits(0.4, 0.3, 0.2, 0.1), temperature=0.05)
    _, hot = _after(_logits(0.4, 0.3, 0.2, 0.1), temperature=5.0)
    assert cold[0] > 0.99
    assert hot.max() - hot.min() < 0.2  # nearly flat


def test_rows_of_a_batch_are_filtered_independently():
    batch = torch.stack([_logits(0.4, 0.3, 0.2, 0.1), _logits(0.1, 0.2, 0.3, 0.4)])
    filtered = filter_logits(batch, 1.0, 2, 1.0)
    assert torch.isfinite(filtered).tolist() == [[True, True, False, False], [False, False, True, True]]


def test_normalized_clamps_bad_settings_instead_of_failing():
    vocab = 100
    assert not GenerationSettings(do_sample=True, temperature=0.0).normalized(vocab).do_sample
    assert GenerationSettings(do_sample=True, temperature=0.7).normalized(vocab).do_sample
    assert GenerationSettings(top_k=500).normalized(vocab).top_k == 0
    assert GenerationSettings(top_k=vocab).normalized(vocab).top_k == 0
    assert GenerationSettings(top_k=-3).normalized(vocab).top_k == 0
    assert GenerationSettings(top_k=7).normalized(vocab).top_k == 7
    assert GenerationSettings(top_p=1.5).normalized(vocab).top_p == 1.0
    assert GenerationSettings(top_p=-0.2).normalized(vocab).top_p == 0.0
    assert GenerationSettings(do_sample=True, temperature=-1).normalized(vocab).temperature > 0


def test_normalized_rejects_a_token_budget_below_one():
    with pytest.raises(ValueError, match="max_new_tokens must be at least 1"):
        GenerationSettings(max_new_tokens=0).normalized(100)


def test_choose_next_is_argmax_when_greedy_and_seeded_when_sampling():
    logits = torch.stack([_logits(0.1, 0.6, 0.3), _logits(0.5, 0.2, 0.3)])
    greedy = GenerationSettings().normalized(3)
    assert choose_next(logits, greedy, []).tolist() == [1, 0]
    sample = GenerationSettings(do_sample=True, temperature=1.5).normalized(3)
    picks = [
        choose_next(logits, sample, [torch.Generator().manual_seed(s) for s in (4, 5)]).tolist() for _ in range(2)
    ]
    assert picks[0] == picks[1]
    many = {tuple(choose_next(logits, sample, [torch.Generator().manual_seed(s)] * 2).tolist()) for s in range(40)}
    assert len(many) > 1  # different seeds really sample different tokens

"""Statistics of prompt comparisons against textbook numbers and hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.prompting import stats


def _wilson_by_hand(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize("k, n", [(0, 10), (7, 10), (22, 30), (30, 30), (81, 263)])
def test_wilson_interval_is_the_textbook_formula(k, n):
    interval = stats.wilson(k, n)
    low, high = _wilson_by_hand(k, n)
    assert interval.value == pytest.approx(k / n)
    assert interval.low == pytest.approx(low, abs=1e-9)
    assert interval.high == pytest.approx(high, abs=1e-9)


def test_wilson_known_value_for_none_of_ten():
    assert stats.wilson(0, 10).high == pytest.approx(0.2775, abs=1e-4)  # the usual table value


def test_exact_mcnemar_on_a_known_table():
    # 1 item only A got right, 9 only B: two-sided binomial tail 2 * (1 + 10) / 2**10.
    assert stats.mcnemar_exact(1, 9) == pytest.approx(22 / 1024)
    assert stats.mcnemar_exact(5, 5) == pytest.approx(1.0)
    assert stats.mcnemar_exact(0, 0) == 1.0


def test_items_needed_follows_connors_formula():
    psi, delta = 0.3, 0.1
    by_hand = (1.959963984540054 * math.sqrt(psi) + 0.8416212335729143 * math.sqrt(psi - delta**2)) ** 2 / delta**2
    assert stats.items_needed(psi, delta) == math.ceil(by_hand)
    assert stats.items_needed(0.0) == stats.items_needed(0.15)  # never-disagreeing runs still get an answer


def test_paired_comparison_counts_discordant_items_and_reads_well():
    a = [1] * 20 + [0] * 10
    b = [1] * 12 + [0] * 18
    result = stats.compare("few-shot", a, "zero-shot", b, seed=3)
    assert (result.only_a, result.only_b, result.n) == (8, 0, 30)
    assert result.difference.value == pytest.approx(8 / 30)
    assert result.difference.low <= 8 / 30 <= result.difference.high
    assert result.p_value == pytest.approx(2 / 256)
    assert result.significant
    assert result.sentence().startswith("few-shot beats zero-shot by 27 points (95% CI")
    same = stats.compare("k=1", a, "k=4", a)
    assert not same.significant and "not distinguishable from chance on 30 items" in same.sentence()
    assert f"about {same.items_for_10_points} items" in same.sentence()


def test_bootstrap_is_seeded_and_covers_the_estimate():
    rng = np.random.default_rng(0)
    values = rng.random(40)
    first = stats.bootstrap(np.mean, [values], seed=7)
    assert first == stats.bootstrap(np.mean, [values], seed=7)
    assert first.low < values.mean() < first.high
    assert first.high - first.low < 0.3
    flat = stats.bootstrap(np.mean, [np.ones(10)], seed=1)
    assert (flat.low, flat.value, flat.high) == (1.0, 1.0, 1.0)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="at least one"):
        stats.wilson(0, 0)
    with pytest.raises(ValueError, match="same items"):
        stats.compare("a", [1, 0], "b", [1])


@pytest.mark.parametrize("only_a, only_b, n", [(4, 0, 30), (8, 0, 30), (6, 1, 30), (10, 2, 40), (3, 3, 30), (0, 0, 30)])
def test_the_paired_interval_excludes_zero_exactly_when_mcnemar_rejects(only_a, only_b, n):
    interval = stats.paired_difference(only_a, only_b, n)
    assert interval.low <= (only_a - only_b) / n <= interval.high
    excludes_zero = interval.low > 0 or interval.high < 0
    assert excludes_zero == (stats.mcnemar_exact(only_a, only_b) < 0.05)

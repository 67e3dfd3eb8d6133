"""Metrics on hand-made predictions: macro-F1, confusion, label bias, ECE, contextual calibration."""

from __future__ import annotations

import numpy as np
import pytest

from core.prompting import eval_metrics


def test_ece_of_a_perfectly_calibrated_set_is_zero():
    # 10 predictions at 0.8 with 8 right, 10 at 0.5 with 5 right: accuracy equals confidence in each bin
    confidence = np.array([0.8] * 10 + [0.5] * 10)
    correct = np.array([True] * 8 + [False] * 2 + [True] * 5 + [False] * 5)
    assert eval_metrics.expected_calibration_error(confidence, correct) == pytest.approx(0.0)


def test_ece_of_an_overconfident_set_is_the_gap():
    confidence, correct = np.full(10, 0.9), np.array([True] * 6 + [False] * 4)
    assert eval_metrics.expected_calibration_error(confidence, correct) == pytest.approx(0.3)
    table = eval_metrics.reliability(confidence, correct)
    assert table["count"].sum() == 10 and table.loc[table["count"] > 0, "accuracy"].tolist() == [0.6]


def test_reliability_bins_cover_zero_to_one_with_edges_included():
    table = eval_metrics.reliability(np.array([0.0, 0.1, 0.55, 1.0]), np.array([1, 0, 1, 1], dtype=bool))
    assert table["count"].sum() == 4 and len(table) == eval_metrics.RELIABILITY_BINS
    assert table["count"].iloc[0] == 2 and table["count"].iloc[-1] == 1


def test_contextual_calibration_of_a_constant_bias_recovers_the_unbiased_argmax():
    true_probabilities = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]])
    bias = np.array([0.1, 0.1, 0.8])  # the prompt pushes towards the third label
    biased = true_probabilities * bias
    biased /= biased.sum(axis=1, keepdims=True)
    assert (biased.argmax(axis=1) == 2).all()  # before: everything is the favoured label
    content_free = np.array([bias, bias])  # what the prompt gives an input with no content
    calibrated = eval_metrics.contextual_calibration(biased, content_free)
    np.testing.assert_allclose(calibrated, true_probabilities, atol=1e-12)
    assert calibrated.argmax(axis=1).tolist() == [0, 1, 2, 2]


def test_macro_f1_and_confusion_by_hand():
    gold = ["a", "a", "a", "b", "c"]
    predicted = ["a", "a", "b", "b", "zzz"]
    # F1: a = 2*2/(4+0+1) = 0.8; b = 2*1/(2+1+0) = 2/3; c = 0 (missed, never predicted right)
    assert eval_metrics.macro_f1(gold, predicted, ["a", "b", "c"]) == pytest.approx((0.8 + 2 / 3 + 0) / 3)
    table = eval_metrics.confusion(gold, predicted, ["a", "b", "c"])
    assert list(table.columns) == ["a", "b", "c", eval_metrics.OTHER]
    assert table.loc["a"].tolist() == [2, 1, 0, 0] and table.loc["c", eval_metrics.OTHER] == 1
    assert table.to_numpy().sum() == len(gold)


def test_label_bias_shares():
    bias = eval_metrics.label_bias(["a", "b", "b", "b"], ["a", "a", "a", "b"], ["a", "b"])
    assert bias["predicted"].tolist() == [0.75, 0.25] and bias["true"].tolist() == [0.25, 0.75]


def test_probability_text_orders_labels_by_probability():
    assert eval_metrics.probability_text(["positive", "negative"], [0.18, 0.82]) == "negative 0.82 · positive 0.18"

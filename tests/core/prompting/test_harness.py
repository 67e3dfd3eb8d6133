"""Harness score names on hand-computed numbers."""

from __future__ import annotations

import numpy as np
import pytest

from core.prompting import harness

LABELS = ("no", "yes", "perhaps")
LL = np.array([[-2.0, -3.0, -6.0],  # acc: no; per character: -1, -1, -0.857 -> perhaps
               [-4.0, -4.5, -14.0]])  # acc: no; per character: -2, -1.5, -2 -> yes


def test_acc_is_the_largest_sum():
    assert harness.predictions("acc", LL, LABELS).tolist() == [0, 0]


def test_acc_norm_divides_by_characters_as_the_harness_does():
    np.testing.assert_allclose(harness.choice_scores("acc_norm", LL, LABELS)[0], [-1.0, -1.0, -6 / 7])
    assert harness.predictions("acc_norm", LL, LABELS).tolist() == [2, 1]


def test_acc_bytes_counts_utf8_bytes():
    labels = ("né", "ne")  # 'é' is two bytes, one character
    ll = np.array([[-3.0, -2.2]])
    np.testing.assert_allclose(harness.choice_scores("acc_bytes", ll, labels), [[-1.0, -1.1]])
    np.testing.assert_allclose(harness.choice_scores("acc_norm", ll, labels), [[-1.5, -1.1]])
    assert harness.predictions("acc_bytes", ll, labels).tolist() == [0]
    assert harness.predictions("acc_norm", ll, labels).tolist() == [1]


def test_mutual_information_subtracts_the_null_prompt():
    null = np.array([-1.0, -5.0, -2.0])  # "no" is likely anywhere: PMI discounts it
    np.testing.assert_allclose(harness.choice_scores("acc_mutual_info", LL, LABELS, unconditional=null)[0],
                               [-1.0, 2.0, -4.0])
    assert harness.predictions("acc_mutual_info", LL, LABELS, unconditional=null).tolist() == [1, 1]


def test_mean_divides_by_tokens():
    tokens = np.array([[1, 1, 3], [2, 1, 7]])
    np.testing.assert_allclose(harness.choice_scores("mean", LL, LABELS, n_tokens=tokens),
                               [[-2.0, -3.0, -2.0], [-2.0, -4.5, -2.0]])


def test_missing_inputs_and_unknown_rules_are_refused():
    with pytest.raises(ValueError, match="content-free"):
        harness.choice_scores("acc_mutual_info", LL, LABELS)
    with pytest.raises(ValueError, match="Unknown score 'f1'"):
        harness.choice_scores("f1", LL, LABELS)

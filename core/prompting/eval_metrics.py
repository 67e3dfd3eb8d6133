"""Classification metrics for prompt evaluation: macro-F1, confusion, label bias, calibration (ECE, Zhao et al.)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

OTHER = "(no label)"  # a generated answer that names none of the labels
RELIABILITY_BINS = 10
CONTENT_FREE = ("N/A", "", "[MASK]")  # Zhao et al. 2021, "Calibrate Before Use"


def macro_f1(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> float:
    """Mean over the true labels of F1 = 2PR / (P + R); a label never predicted nor true is skipped."""
    gold, predicted = np.asarray(gold, dtype=object), np.asarray(predicted, dtype=object)
    scores = []
    for label in labels:
        tp = np.sum((predicted == label) & (gold == label))
        fp, fn = np.sum((predicted == label) & (gold != label)), np.sum((predicted != label) & (gold == label))
        if tp + fp + fn == 0:
            continue
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def confusion(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> pd.DataFrame:
    """Counts with true labels as rows and predictions as columns (plus OTHER when an answer named none)."""
    columns = list(labels) + ([OTHER] if any(p not in labels for p in predicted) else [])
    table = pd.DataFrame(0, index=list(labels), columns=columns, dtype=np.int64)
    for truth, guess in zip(gold, predicted):
        if truth in table.index:
            table.loc[truth, guess if guess in labels else OTHER] += 1
    return table


def label_bias(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> pd.DataFrame:
    """Per label: the share of items predicted as it, and the share truly of it (equal = no bias)."""
    n = max(len(gold), 1)
    return pd.DataFrame({
        "label": list(labels),
        "predicted": [sum(p == label for p in predicted) / n for label in labels],
        "true": [sum(g == label for g in gold) / n for label in labels],
    })


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = RELIABILITY_BINS) -> pd.DataFrame:
    """Equal-width confidence bins: mean confidence, accuracy and count of the predictions in each.

    confidence: (item,) probability of the predicted label; correct: (item,) bool.
    """
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for b in range(bins):
        chosen = index == b
        count = int(chosen.sum())
        rows.append((edges[b], edges[b + 1], count,
                     float(confidence[chosen].mean()) if count else np.nan,
                     float(correct[chosen].mean()) if count else np.nan))
    return pd.DataFrame(rows, columns=["low", "high", "count", "confidence", "accuracy"])


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = RELIABILITY_BINS) -> float:
    """ECE = sum over bins of (share of items in the bin) x |accuracy - mean confidence|."""
    table = reliability(confidence, correct, bins)
    filled = table[table["count"] > 0]
    if filled.empty:
        return 0.0
    weights = filled["count"] / filled["count"].sum()
    return float((weights * (filled["accuracy"] - filled["confidence"]).abs()).sum())


def contextual_calibration(probabilities: np.ndarray, content_free: np.ndarray) -> np.ndarray:
    """Divide out the label prior the prompt gives an empty input, then renormalise (Zhao et al. 2021).

    probabilities: (item, label); content_free: (input, label) label probabilities of the
    content-free inputs. Returns (item, label) calibrated probabilities.
    """
    prior = np.asarray(content_free, dtype=float).mean(axis=0)
    prior = prior / prior.sum()
    adjusted = np.asarray(probabilities, dtype=float) / np.maximum(prior, 1e-12)
    return adjusted / adjusted.sum(axis=1, keepdims=True)


def probability_text(labels: Sequence[str], probabilities: Sequence[float]) -> str:
    """ "positive 0.82 · negative 0.18": labels by decreasing probability."""
    pairs = sorted(zip(labels, probabilities), key=lambda pair: -pair[1])
    return " · ".join(f"{label} {p:.2f}" for label, p in pairs)

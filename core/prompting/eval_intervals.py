"""Intervals and paired tests on an evaluation: Wilson on accuracy, bootstrap on macro-F1 and ECE, McNemar pairs.

The statistics themselves live in core/prompting/stats.py (scipy.stats); this module applies them to
an evaluation's per-item rows. Every paired test compares the table-order run (shuffle 0) of each
strategy, item by item.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from core.prompting import eval_metrics, normalize_label, stats

BOOTSTRAP_SEED = 0  # one seed for every interval of a run: the same run gives the same intervals


def calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = eval_metrics.RELIABILITY_BINS) -> float:
    """ECE with numpy only (same bins as eval_metrics.expected_calibration_error; fast enough to bootstrap)."""
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    gap = np.bincount(index, weights=correct - confidence, minlength=bins)  # per bin: sum(correct − confidence)
    return float(np.abs(gap).sum() / max(counts.sum(), 1))


def _codes(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes for gold and predicted labels (-1: an answer that names no label), for the bootstrap."""
    index = {label: i for i, label in enumerate(labels)}
    return (np.array([index.get(g, -1) for g in gold]), np.array([index.get(p, -1) for p in predicted]))


def strategy_intervals(rows: pd.DataFrame, labels: Sequence[str], mode: str, seed: int = BOOTSTRAP_SEED) -> dict:
    """accuracy_low/high (Wilson), macro_f1_low/high and, in rank mode, ece_low/high (seeded bootstrap).

    rows: one strategy's scored items with columns gold, predicted, correct (+ confidence in rank mode).
    """
    correct = rows["correct"].astype(bool).to_numpy()
    accuracy = stats.wilson(int(correct.sum()), len(correct))
    gold, predicted = _codes(list(rows["gold"]), list(rows["predicted"]), labels)
    codes = list(range(len(labels)))
    f1 = stats.bootstrap(lambda g, p: eval_metrics.macro_f1(g, p, codes), [gold, predicted], seed)
    out = {"accuracy_low": accuracy.low, "accuracy_high": accuracy.high,
           "macro_f1_low": f1.low, "macro_f1_high": f1.high}
    if mode == "rank":
        ece = stats.bootstrap(calibration_error, [rows["confidence"].to_numpy(float), correct.astype(float)], seed)
        out |= {"ece_low": ece.low, "ece_high": ece.high}
    return out


def curve_intervals(predictions: pd.DataFrame) -> pd.DataFrame:
    """(k, ci_low, ci_high): the Wilson interval of the table-order run's accuracy at each k."""
    rows = []
    for k, run in predictions[predictions["shuffle"] == 0].groupby("k"):
        interval = stats.wilson(int(run["correct"].astype(bool).sum()), len(run))
        rows.append((k, interval.low, interval.high))
    return pd.DataFrame(rows, columns=["k", "ci_low", "ci_high"])


def per_item_correct(predictions: pd.DataFrame, k: int) -> pd.Series:
    """item → correct for the table-order run with k shots."""
    run = predictions[(predictions["k"] == k) & (predictions["shuffle"] == 0)]
    return run.set_index("item")["correct"].astype(bool).sort_index()


def paired(strategies: pd.DataFrame, predictions: pd.DataFrame, name_a: str, name_b: str,
           seed: int = BOOTSTRAP_SEED) -> stats.PairedComparison:
    """Strategy name_a against name_b on the items both scored (ValueError naming the valid strategies)."""
    ks = dict(zip(strategies["strategy"], strategies["k"]))
    for name in (name_a, name_b):
        if name not in ks:
            raise ValueError(f"Unknown strategy {name!r}; choose one of: {', '.join(ks)}.")
    a, b = per_item_correct(predictions, ks[name_a]), per_item_correct(predictions, ks[name_b])
    shared = a.index.intersection(b.index)
    return stats.compare(name_a, a[shared].to_numpy(), name_b, b[shared].to_numpy(), seed)


def all_pairs(strategies: pd.DataFrame, predictions: pd.DataFrame) -> list[stats.PairedComparison]:
    """Every later strategy against every earlier one (few vs one, few vs zero, one vs zero)."""
    names = list(strategies["strategy"])
    return [paired(strategies, predictions, later, earlier)
            for i, later in enumerate(names) for earlier in names[:i][::-1]]


def versus_saved(items: pd.DataFrame, saved_items: pd.DataFrame, strategy: str, name_now: str = "this run",
                 name_saved: str = "the saved run", seed: int = BOOTSTRAP_SEED) -> stats.PairedComparison:
    """One strategy of this run against the same strategy of a saved run, over the items both scored.

    items / saved_items: per-item tables (text, label, '<strategy> ✓'); items are matched by text and label.
    """
    column = f"{strategy} ✓"
    for table, which in ((items, name_now), (saved_items, name_saved)):
        if column not in table or "text" not in table:
            raise ValueError(f"{which.capitalize()} has no per-item results for {strategy!r}.")
    now, saved = _keyed(items, column), _keyed(saved_items, column)
    shared = [key for key in now if key in saved]
    if not shared:
        raise ValueError("This run and the saved one share no items: nothing to compare item by item.")
    return stats.compare(name_now, [now[key] for key in shared], name_saved, [saved[key] for key in shared], seed)


def _keyed(table: pd.DataFrame, column: str) -> dict[tuple[str, str], bool]:
    """(normalised text, normalised label) → correct, for the rows that have a result."""
    rows = table.dropna(subset=[column])
    return {(normalize_label(str(t)), normalize_label(str(lab))): bool(c)
            for t, lab, c in zip(rows["text"], rows["label"], rows[column])}

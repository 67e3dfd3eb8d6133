"""Summaries of an evaluation's predictions: per strategy accuracy, macro-F1, confusion, bias, calibration."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.prompting import eval_intervals, eval_metrics, match_label, normalize_label

STRATEGIES = ("zero-shot", "one-shot", "few-shot")
HARNESS_SCORES = ("acc", "acc_norm", "acc_bytes", "acc_mutual_info", "mean")  # core/prompting/harness.py rules


@dataclass(frozen=True)
class Evaluation:
    """Every prediction and its summaries. Items used as shots are never among the scored rows."""

    predictions: pd.DataFrame  # one row per (item, k, shuffle): item, k, shuffle, answer, label, correct, …
    strategies: pd.DataFrame  # strategy, k, correct, scored, accuracy, macro_f1 (+ ece, calibrated_accuracy)
    curve: pd.DataFrame  # k, mean, std, min, max, runs: accuracy against the number of shots
    items: pd.DataFrame  # text, label, then each strategy's answer, whether it is correct (+ probabilities)
    excluded: int  # labelled items dropped because they are also shots
    mode: str = "generate"
    labels: tuple[str, ...] = ()
    confusions: dict[str, pd.DataFrame] = field(default_factory=dict)  # strategy -> (true label, predicted)
    bias: pd.DataFrame | None = None  # strategy, label, predicted, true (shares of the items)
    reliability: pd.DataFrame | None = None  # rank mode: strategy, low, high, count, confidence, accuracy
    shot_influence: pd.DataFrame | None = None  # rank mode: shot, text, label, delta_logprob, delta_accuracy
    partial: bool = False  # stopped early: only the runs that finished are here
    seconds: float = 0.0
    tokens_run: int = 0


def strategy_names(few_k: int) -> list[tuple[str, int]]:
    """(column name, k) of the three strategies."""
    return [(f"{name} (k={k})" if name == "few-shot" else name, k) for name, k in zip(STRATEGIES, (0, 1, few_k))]


def summarise(predictions: pd.DataFrame, items: pd.DataFrame, few_k: int, labels: Sequence[str], mode: str,
              excluded: int = 0, influence: pd.DataFrame | None = None, partial: bool = False,
              seconds: float = 0.0, tokens: int = 0) -> Evaluation:
    """Every summary of a prediction table (columns item, k, shuffle, answer, label, correct, …)."""
    labels = tuple(labels)
    if predictions.empty:
        empty = pd.DataFrame(columns=["strategy", "k", "correct", "scored", "accuracy", "macro_f1"])
        return Evaluation(predictions, empty, pd.DataFrame(columns=["k", "mean", "std", "min", "max", "runs"]),
                          items[["text", "label"]].copy(), excluded, mode, labels, partial=partial, seconds=seconds)
    predictions = _with_canonical_labels(predictions, labels, mode)
    summary, columns, confusions, bias, reliability = [], {"text": items["text"], "label": items["label"]}, {}, [], []
    table_order = predictions[predictions["shuffle"] == 0]
    for label, k in strategy_names(few_k):
        rows = table_order[table_order["k"] == k].set_index("item").reindex(items.index)
        if rows["correct"].isna().all():
            continue  # stopped before this strategy ran
        rows = rows.dropna(subset=["correct"])
        summary.append(_strategy_row(label, k, rows, labels, mode))
        confusions[label] = eval_metrics.confusion(rows["gold"], rows["predicted"], labels)
        bias.append(eval_metrics.label_bias(list(rows["gold"]), list(rows["predicted"]), labels).assign(strategy=label))
        columns[label] = rows["answer"]
        columns[f"{label} ✓"] = rows["correct"].astype(bool)
        if mode == "rank":
            columns[f"{label} probabilities"] = [
                eval_metrics.probability_text(labels, [row[f"p({name})"] for name in labels])
                for _, row in rows.iterrows()]
            table = eval_metrics.reliability(rows["confidence"].to_numpy(), rows["correct"].to_numpy(bool))
            reliability.append(table.assign(strategy=label))
    return Evaluation(
        predictions, pd.DataFrame(summary), _curve(predictions), pd.DataFrame(columns), excluded, mode, labels,
        confusions, pd.concat(bias, ignore_index=True),
        pd.concat(reliability, ignore_index=True) if reliability else None, influence, partial, seconds, tokens,
    )


def _with_canonical_labels(predictions: pd.DataFrame, labels: Sequence[str], mode: str) -> pd.DataFrame:
    """Add gold (the label's canonical spelling) and, when generating, predicted (the label named or OTHER)."""
    canonical = {normalize_label(label): label for label in labels}
    predictions = predictions.copy()
    predictions["gold"] = predictions["label"].map(lambda label: canonical.get(normalize_label(label), label))
    if mode != "rank":
        predictions["predicted"] = predictions["answer"].map(
            lambda answer: match_label(answer, labels) or eval_metrics.OTHER)
    return predictions


def _strategy_row(name: str, k: int, rows: pd.DataFrame, labels: Sequence[str], mode: str) -> dict:
    correct = rows["correct"].astype(bool)
    row = {"strategy": name, "k": k, "correct": int(correct.sum()), "scored": len(rows),
           "accuracy": float(correct.mean()),
           "macro_f1": eval_metrics.macro_f1(list(rows["gold"]), list(rows["predicted"]), labels)}
    if mode == "rank":
        row["ece"] = eval_metrics.expected_calibration_error(rows["confidence"].to_numpy(), correct.to_numpy())
        row["calibrated_accuracy"] = float(rows["calibrated_correct"].astype(bool).mean())
        for rule in HARNESS_SCORES:
            if f"{rule}_correct" in rows:
                row[rule] = float(rows[f"{rule}_correct"].astype(bool).mean())
    return row | eval_intervals.strategy_intervals(rows, labels, mode)


def _curve(predictions: pd.DataFrame) -> pd.DataFrame:
    per_run = predictions.groupby(["k", "shuffle"])["correct"].mean().rename("accuracy").reset_index()
    curve = per_run.groupby("k")["accuracy"].agg(["mean", "std", "min", "max", "count"]).reset_index()
    curve = curve.rename(columns={"count": "runs"})
    curve["std"] = curve["std"].fillna(0.0)  # one run (k = 0) has no spread
    return curve.merge(eval_intervals.curve_intervals(predictions), on="k", how="left")


def score(predictions: pd.DataFrame, items: pd.DataFrame, few_k: int, excluded: int = 0) -> Evaluation:
    """Summaries of a generate-and-match prediction table; the labels are the items' own."""
    labels = tuple(dict.fromkeys(items["label"].map(str.strip)))
    return summarise(predictions, items, few_k, labels, "generate", excluded)



def result_records(result: Evaluation) -> dict:
    """The parts of a result an experiment JSON keeps (old readers need only strategies and curve)."""
    def plain(frame):
        return None if frame is None else frame.replace({np.nan: None}).to_dict("records")

    return {"mode": result.mode, "labels": list(result.labels), "partial": result.partial,
            "strategies": plain(result.strategies), "curve": plain(result.curve), "items": plain(result.items),
            "predictions": plain(result.predictions), "shot_influence": plain(result.shot_influence)}

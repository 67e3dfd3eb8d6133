"""An evaluation as files a team keeps: per-item JSONL, a summary JSON (an experiment the page loads), CI gates.

The summary is the experiment itself (what the page's "Save experiment" writes) plus `results`
(the page's saved results) and `summary`: every metric with its 95% interval, the paired tests
between strategies, and, when given, the gates and the comparison with a baseline run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from core import prompting
from core.prompting import eval_intervals, stats
from core.prompting.eval_report import Evaluation, result_records, strategy_names

METRICS = ("accuracy", "macro_f1", "calibrated_accuracy")  # higher is better: what --fail-under may name
INTERVAL_METRICS = ("accuracy", "macro_f1", "ece")
ALIASES = {"zero": 0, "zero-shot": 0, "one": 1, "one-shot": 1}  # "few" / "few-shot": the few-shot column


@dataclass(frozen=True)
class Gate:
    """One --fail-under rule: metric ≥ threshold for one strategy."""

    metric: str
    threshold: float
    strategy: str  # as the user typed it ("few", "zero-shot", "few-shot (k=4)")


def parse_gate(rule: str, strategy: str = "few") -> Gate:
    """'accuracy=0.80' → Gate; ValueError naming the valid metrics or the 0–1 range."""
    metric, sep, value = rule.partition("=")
    metric = metric.strip().replace("-", "_")
    if not sep or metric not in METRICS:
        raise ValueError(f"--fail-under takes METRIC=THRESHOLD with METRIC one of {', '.join(METRICS)}; got {rule!r}.")
    try:
        threshold = float(value)
    except ValueError:
        raise ValueError(f"--fail-under {metric} needs a number between 0 and 1; got {value!r}.") from None
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"--fail-under {metric}={value}: the threshold must be between 0 and 1.")
    return Gate(metric, threshold, strategy)


def resolve_strategy(name: str, few_k: int) -> str:
    """The strategy column a user means: 'few' → 'few-shot (k=4)'; ValueError naming the valid ones."""
    names = {label: k for label, k in strategy_names(few_k)}
    wanted = name.strip().lower()
    if wanted in ("few", "few-shot"):
        wanted = f"few-shot (k={few_k})"
    for label, k in names.items():
        if wanted == label or ALIASES.get(wanted) == k:
            return label
    raise ValueError(f"Unknown strategy {name!r}; choose one of: zero, one, few ({', '.join(names)}).")


def interval_dict(interval: stats.Interval) -> dict:
    """{'value', 'low', 'high', 'confidence'} of an interval."""
    return {"value": interval.value, "low": interval.low, "high": interval.high, "confidence": interval.confidence}


def paired_dict(comparison: stats.PairedComparison) -> dict:
    """A paired comparison as plain JSON values (with its one-sentence verdict)."""
    return {"a": comparison.name_a, "b": comparison.name_b, "items": comparison.n, "only_a": comparison.only_a,
            "only_b": comparison.only_b, "difference": interval_dict(comparison.difference),
            "p_value": comparison.p_value, "significant": comparison.significant,
            "sentence": comparison.sentence()}


def metric_intervals(evaluation: Evaluation) -> dict[str, dict]:
    """strategy → {correct, scored, accuracy: {value, low, high}, macro_f1: …, ece: … (rank mode)}."""
    out = {}
    for row in evaluation.strategies.to_dict("records"):
        entry = {"k": int(row["k"]), "correct": int(row["correct"]), "scored": int(row["scored"])}
        for metric in INTERVAL_METRICS:
            if metric in row:
                entry[metric] = {"value": row[metric], "low": row[f"{metric}_low"], "high": row[f"{metric}_high"],
                                 "confidence": stats.CONFIDENCE}
        if "calibrated_accuracy" in row:
            entry["calibrated_accuracy"] = {"value": row["calibrated_accuracy"]}
        out[row["strategy"]] = entry
    return out


def check_gates(evaluation: Evaluation, gates: Sequence[Gate], few_k: int) -> list[dict]:
    """Each gate with the value it saw and whether it passed (a strategy that never ran fails)."""
    metrics = metric_intervals(evaluation)
    outcomes = []
    for gate in gates:
        strategy = resolve_strategy(gate.strategy, few_k)
        value = metrics.get(strategy, {}).get(gate.metric, {}).get("value")
        outcomes.append({"metric": gate.metric, "threshold": gate.threshold, "strategy": strategy, "value": value,
                         "passed": value is not None and value >= gate.threshold})
    return outcomes


def baseline_results(summary: dict) -> dict:
    """The results of a saved summary or experiment (ValueError when it has none to compare with)."""
    results = summary.get("results")
    if not results or not results.get("items"):
        raise ValueError("The baseline has no per-item results; pass a summary the CLI or the page saved after "
                         "an evaluation.")
    return results


def versus_baseline(evaluation: Evaluation, baseline: dict) -> list[dict]:
    """Per strategy both runs have: the paired test over shared items; 'worse' when significantly below it."""
    saved = pd.DataFrame(baseline_results(baseline)["items"])
    rows = []
    for strategy in evaluation.strategies["strategy"]:
        try:
            comparison = eval_intervals.versus_saved(evaluation.items, saved, strategy, "this run", "the baseline")
        except ValueError as error:
            rows.append({"strategy": strategy, "skipped": str(error)})
            continue
        worse = comparison.significant and comparison.difference.value < 0
        rows.append({"strategy": strategy, **paired_dict(comparison), "worse": worse})
    return rows


def build_summary(experiment: dict, evaluation: Evaluation, run: dict, gates: Iterable[dict] = (),
                  baseline: Iterable[dict] = ()) -> dict:
    """The summary JSON: the experiment, its results (as the page saves them) and every interval and test."""
    pairs = [] if evaluation.strategies.empty else eval_intervals.all_pairs(evaluation.strategies,
                                                                           evaluation.predictions)
    summary = {"run": run, "partial": evaluation.partial, "seconds": evaluation.seconds,
               "predictions": len(evaluation.predictions), "strategies": metric_intervals(evaluation),
               "paired": [paired_dict(p) for p in pairs], "gates": list(gates), "baseline": list(baseline)}
    return {**experiment, "results": result_records(evaluation), "summary": summary}


def repeats_dict(repeats) -> dict:
    """Seeds, accuracy's spread per strategy and the unstable items of an eval_repeats.Repeats."""
    return {"seeds": list(repeats.seeds), "spread": _finite(repeats.spread.to_dict("records")),
            "unstable": _finite(repeats.unstable().to_dict("records"))}


def write_summary(path, summary: dict) -> None:
    """Write the summary JSON (loadable by the page's 'Load an experiment')."""
    body = {key: value for key, value in summary.items() if key != "version"}
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(prompting.experiment_to_json(_finite(body)))


def item_lines(evaluation: Evaluation, few_k: int) -> Iterable[str]:
    """One JSON line per prediction: item, text, strategy, k, order, gold, per-label log-probs and probs, …"""
    names = {k: label for label, k in strategy_names(few_k)}
    texts = list(evaluation.items["text"])
    for row in evaluation.predictions.to_dict("records"):
        item = int(row["item"])
        line = {"item": item, "text": texts[item] if item < len(texts) else None,
                "strategy": names.get(row["k"], f"k={row['k']}"), "k": int(row["k"]), "order": int(row["shuffle"]),
                "gold": row.get("gold", row["label"]), "prediction": row.get("predicted", row["answer"]),
                "answer": row["answer"], "correct": bool(row["correct"])}
        line["logprob"] = {c[5:-1]: row[c] for c in row if c.startswith("logp(")}
        line["probability"] = {c[2:-1]: row[c] for c in row if c.startswith("p(")}
        yield json.dumps(_finite(line), ensure_ascii=False)


def write_items(path, evaluation: Evaluation, few_k: int) -> None:
    """Per-item JSONL (what lm-evaluation-harness calls --log_samples)."""
    with open(path, "w", encoding="utf-8") as handle:
        for line in item_lines(evaluation, few_k):
            handle.write(line + "\n")


def _finite(value):
    """NaN / numpy scalars → JSON-safe plain values (NaN becomes null)."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value

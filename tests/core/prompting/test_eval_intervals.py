"""Intervals and paired tests applied to evaluations: hand-made prediction tables and a tiny model's run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.prompting import eval_intervals, eval_metrics, prompt_eval, stats
from core.sampling import GenerationSettings


def test_numpy_calibration_error_equals_the_table_version():
    rng = np.random.default_rng(3)
    confidence, correct = rng.uniform(0.3, 1.0, 50), rng.uniform(size=50) < 0.6
    confidence[:3] = [0.1, 0.2, 1.0]  # bin edges included
    assert eval_intervals.calibration_error(confidence, correct) == pytest.approx(
        eval_metrics.expected_calibration_error(confidence, correct), abs=1e-12)


def _rows(gold, predicted, confidence=None) -> pd.DataFrame:
    frame = pd.DataFrame({"gold": gold, "predicted": predicted})
    frame["correct"] = frame["gold"] == frame["predicted"]
    if confidence is not None:
        frame["confidence"] = confidence
    return frame


def test_strategy_intervals_hold_the_point_and_wilson_is_scipys():
    gold = ["a", "b"] * 15
    predicted = ["a", "b"] * 10 + ["b", "a"] * 5  # 20 of 30 right
    rows = _rows(gold, predicted, np.linspace(0.5, 0.99, 30))
    out = eval_intervals.strategy_intervals(rows, ("a", "b"), "rank")
    wilson = stats.wilson(20, 30)
    assert (out["accuracy_low"], out["accuracy_high"]) == pytest.approx((wilson.low, wilson.high))
    f1 = eval_metrics.macro_f1(gold, predicted, ("a", "b"))
    assert out["macro_f1_low"] <= f1 <= out["macro_f1_high"] and out["macro_f1_high"] - out["macro_f1_low"] > 0.1
    ece = eval_metrics.expected_calibration_error(rows["confidence"].to_numpy(), rows["correct"].to_numpy())
    assert out["ece_low"] <= ece <= out["ece_high"]
    assert eval_intervals.strategy_intervals(rows, ("a", "b"), "rank") == out  # seeded: the same every time


def test_an_answer_naming_no_label_counts_against_macro_f1_without_breaking_the_bootstrap():
    rows = _rows(["a", "b", "a", "b"], ["a", "(no label)", "a", "b"])
    out = eval_intervals.strategy_intervals(rows, ("a", "b"), "generate")
    assert "ece_low" not in out and 0 <= out["macro_f1_low"] <= out["macro_f1_high"] <= 1


def _predictions(correct_by_k: dict[int, list[bool]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [{"item": i, "k": k, "shuffle": 0, "correct": c} for k, cs in correct_by_k.items() for i, c in enumerate(cs)]
    names = {0: "zero-shot", 1: "one-shot", 4: "few-shot (k=4)"}
    return pd.DataFrame(rows), pd.DataFrame({"strategy": [names[k] for k in correct_by_k], "k": list(correct_by_k)})


def test_paired_counts_discordant_items_and_uses_exact_mcnemar():
    zero = [False] * 20 + [True] * 10
    few = [True] * 18 + [False] * 2 + [True] * 9 + [False]  # 18 fixed, 1 broken
    predictions, strategies = _predictions({0: zero, 4: few})
    result = eval_intervals.paired(strategies, predictions, "few-shot (k=4)", "zero-shot")
    assert (result.only_a, result.only_b, result.n) == (18, 1, 30)
    assert result.p_value == pytest.approx(stats.mcnemar_exact(18, 1))
    assert result.sentence().startswith("few-shot (k=4) beats zero-shot by 57 points")
    with pytest.raises(ValueError, match="Unknown strategy 'best'; choose one of: zero-shot, few-shot"):
        eval_intervals.paired(strategies, predictions, "best", "zero-shot")
    assert [(p.name_a, p.name_b) for p in eval_intervals.all_pairs(strategies, predictions)] == [
        ("few-shot (k=4)", "zero-shot")]


def test_versus_saved_matches_items_by_text_and_skips_the_unshared():
    now = pd.DataFrame({"text": ["x", "y", "z"], "label": ["a", "b", "a"], "zero-shot ✓": [True, True, False]})
    saved = pd.DataFrame({"text": ["Z ", "y", "w"], "label": ["a", "b", "a"], "zero-shot ✓": [True, False, True]})
    result = eval_intervals.versus_saved(now, saved, "zero-shot")
    assert (result.n, result.only_a, result.only_b) == (2, 1, 1)  # y: now right; z: saved right
    with pytest.raises(ValueError, match="no per-item results for 'one-shot'"):
        eval_intervals.versus_saved(now, saved, "one-shot")
    with pytest.raises(ValueError, match="share no items"):
        eval_intervals.versus_saved(now, saved.iloc[2:], "zero-shot")


def test_an_evaluation_carries_intervals_in_its_tables(tiny_llama):
    examples = (("Loved it", "positive"), ("Hated it", "negative"), ("Great fun", "positive"))
    items = (("so good", "positive"), ("bad film", "negative"), ("meh", "negative"), ("wow", "positive"))
    request = prompt_eval.EvalRequest("Sentiment?", examples, items, GenerationSettings(max_new_tokens=2), few_k=2,
                                      ks=(0, 1, 2), shot_influence=False)
    result = prompt_eval.evaluate(tiny_llama, request)
    table = result.strategies
    for name in ("accuracy", "macro_f1", "ece"):
        assert (table[f"{name}_low"] <= table[name] + 1e-12).all()
        assert (table[name] <= table[f"{name}_high"] + 1e-12).all()
    first = table.iloc[0]
    wilson = stats.wilson(int(first["correct"]), int(first["scored"]))
    assert first["accuracy_low"] == pytest.approx(wilson.low)
    assert {"ci_low", "ci_high"} <= set(result.curve.columns)
    assert (result.curve["ci_low"] <= result.curve["mean"] + 1e-12).all()

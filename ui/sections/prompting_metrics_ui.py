"""Prompt strategies page, evaluation details: per-item table, confusion, label bias, calibration, which shot helped."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.export import safe_csv
from core.prompting import eval_intervals, prompt_eval
from core.prompting.eval_metrics import CONTENT_FREE
from ui.markdown import md_text
from viz.prompting import confusion_heatmap, label_bias_bars, reliability_diagram, shot_influence_bars

EXPLAIN = {
    "accuracy": "**Accuracy**: the share of items whose predicted label is the true one.",
    "macro_f1": "**Macro-F1**: for each label, how well the model finds its items without over-using it (F1), "
                "averaged so a rare label counts as much as a common one.",
    "confusion": "**Confusion matrix**: rows are the true labels, columns the predictions; everything off the "
                 "diagonal is a mistake, and a full column means the model leans on that label.",
    "bias": "**Label bias**: if a label is predicted far more often than it is true, the prompt pushes the "
            "model towards it whatever the input says.",
    "reliability": "**Reliability and ECE**: group predictions by how sure the model was; a calibrated model is "
                   "right 80 % of the time when it says 0.8, and ECE is the average gap (0 is perfect).",
    "calibration": "**Contextual calibration** (Zhao et al. 2021): ask the same prompt about inputs with no "
                   f"content ({', '.join(repr(t) for t in CONTENT_FREE)}); the labels it prefers there are the "
                   "prompt's own bias, so divide that out of every prediction and renormalise.",
    "influence": "**Which shot helped**: each bar takes one shot out of the few-shot prompt and shows how much "
                 "the correct label's average log-probability and the accuracy change (above 0: the shot helped).",
    "harness": "**acc, acc_norm, acc_bytes, acc_mutual_info** (lm-evaluation-harness's names): accuracy when "
               "the label is chosen by its summed log-probability, by that sum divided by the label's length in "
               "characters or in bytes, or by the sum minus the label's log-probability after an empty prompt (PMI).",
    "intervals": "**95% intervals**: the range a figure would likely fall in on another sample of items like "
                 "these (accuracy: Wilson interval; macro-F1 and ECE: bootstrap over items, seeded). On 30 "
                 "items one item is 3.3 points, so intervals are wide: overlapping intervals may not differ.",
    "order": "**Order spread**: the same shots in another order; the range of accuracies is what order alone does.",
}


def explain_scores() -> None:
    """One sentence each on accuracy and macro-F1 (shown once under the charts)."""
    st.caption(EXPLAIN["accuracy"] + " " + EXPLAIN["macro_f1"])


def mode_details(mode: str, result: prompt_eval.Evaluation) -> None:
    """Everything one scoring mode found: the table per strategy, then the views for one chosen strategy."""
    if result.strategies.empty:
        st.info("Stopped before any strategy finished: nothing to show yet.")
        return
    st.dataframe(_strategy_table(result), hide_index=True, key=f"pr_strategies_{mode}")
    st.caption(EXPLAIN["intervals"] + (" " + EXPLAIN["harness"] if mode == "rank" else ""))
    paired_comparison(mode, result)
    checks = {c: st.column_config.CheckboxColumn(c) for c in result.items.columns if c.endswith("✓")}
    st.dataframe(result.items, hide_index=True, column_config=checks, key=f"pr_items_{mode}")
    st.download_button("Download predictions (CSV)", safe_csv(result.predictions),
                       f"predictions-{mode}.csv", "text/csv", key=f"pr_download_csv_{mode}", on_click="ignore",
                       help="One row per item, shot count and order; rank mode adds p(label) per label.")
    strategy = st.radio("Details for", list(result.confusions), horizontal=True, key=f"pr_detail_{mode}",
                        index=len(result.confusions) - 1)
    left, right = st.columns(2)
    left.plotly_chart(confusion_heatmap(result.confusions[strategy], f"Confusion: {strategy}"),
                      key=f"pr_confusion_{mode}")
    left.caption(EXPLAIN["confusion"])
    right.plotly_chart(label_bias_bars(result.bias[result.bias["strategy"] == strategy]), key=f"pr_bias_{mode}")
    right.caption(EXPLAIN["bias"])
    if mode == "rank":
        _calibration(result, strategy)
        _influence(result)
    _order_spread(result)


def paired_comparison(mode: str, result: prompt_eval.Evaluation) -> None:
    """Pick two strategies: their accuracy difference on the same items, exact McNemar, one sentence."""
    names = list(result.strategies["strategy"])
    if len(names) < 2:
        return
    left, right = st.columns(2)
    first = left.selectbox("Compare", names, index=len(names) - 1, key=f"pr_pair_a_{mode}")
    second = right.selectbox("with", names, index=0, key=f"pr_pair_b_{mode}")
    if first == second:
        st.info("Pick two different strategies to compare them item by item.")
        return
    comparison = eval_intervals.paired(result.strategies, result.predictions, first, second)
    st.markdown(md_text(comparison.sentence()))
    st.caption(f"Same {comparison.n} items: {comparison.only_a} right only with {first}, {comparison.only_b} right "
               f"only with {second} (the exact McNemar test looks only at these).")


def versus_saved(result: prompt_eval.Evaluation, saved: dict) -> None:
    """This run beside a saved one: per strategy, the paired test over the items both scored."""
    saved_items = pd.DataFrame(saved.get("items") or [])
    if saved_items.empty:
        st.caption("The saved run has no per-item results, so only its figures are shown beside this run's.")
        return
    rows = []
    for strategy in result.strategies["strategy"]:
        try:
            comparison = eval_intervals.versus_saved(result.items, saved_items, strategy)
        except ValueError as error:
            rows.append({"strategy": strategy, "verdict": str(error)})
            continue
        rows.append({"strategy": strategy, "items shared": comparison.n,
                     "difference (points)": round(100 * comparison.difference.value, 1),
                     "95% low": round(100 * comparison.difference.low, 1),
                     "95% high": round(100 * comparison.difference.high, 1),
                     "McNemar p": comparison.p_value, "verdict": comparison.sentence()})
    st.markdown(f"**This run vs {md_text(saved.get('name', 'the saved run'))}**")
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="pr_versus_saved")


def _strategy_table(result: prompt_eval.Evaluation):
    """Each figure with its 95% interval as two columns beside it (Wilson for accuracy, bootstrap otherwise)."""
    columns = {"strategy": "strategy", "accuracy": "accuracy", "accuracy_low": "accuracy 95% low",
               "accuracy_high": "accuracy 95% high", "macro_f1": "macro-F1", "macro_f1_low": "macro-F1 95% low",
               "macro_f1_high": "macro-F1 95% high", "ece": "ECE", "ece_low": "ECE 95% low",
               "ece_high": "ECE 95% high", "calibrated_accuracy": "accuracy after calibration",
               "acc": "acc", "acc_norm": "acc_norm", "acc_bytes": "acc_bytes", "acc_mutual_info": "acc_mutual_info",
               "mean": "acc (per-token mean)"}
    table = result.strategies[[c for c in columns if c in result.strategies]].rename(columns=columns)
    return table.round(3)


def _calibration(result: prompt_eval.Evaluation, strategy: str) -> None:
    row = result.strategies.set_index("strategy").loc[strategy]
    left, right = st.columns(2)
    bins = result.reliability[result.reliability["strategy"] == strategy]
    left.plotly_chart(reliability_diagram(bins, float(row["ece"])), key="pr_reliability")
    left.caption(EXPLAIN["reliability"])
    right.metric("Accuracy before → after contextual calibration",
                 f"{row['accuracy']:.0%} → {row['calibrated_accuracy']:.0%}",
                 f"{row['calibrated_accuracy'] - row['accuracy']:+.0%}")
    right.caption(EXPLAIN["calibration"])


def _influence(result: prompt_eval.Evaluation) -> None:
    if result.shot_influence is None or result.shot_influence.empty:
        return
    st.plotly_chart(shot_influence_bars(result.shot_influence), key="pr_influence")
    st.caption(EXPLAIN["influence"])


def _order_spread(result: prompt_eval.Evaluation) -> None:
    spread = result.curve[result.curve["runs"] > 1]
    if spread.empty:
        return
    worst = spread.loc[(spread["max"] - spread["min"]).idxmax()]
    st.caption(EXPLAIN["order"] + f" Largest here: k = {int(worst['k'])}, from {worst['min']:.0%} to "
               f"{worst['max']:.0%} over {int(worst['runs'])} orders.")

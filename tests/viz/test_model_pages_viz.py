"""Charts of the model pages: what they plot is the data given, tokens escaped, log axes where promised."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import pytest

from viz.lifecycle import lifecycle_progress_html
from viz.model_pages import gradient_decay_chart, lora_chart, memory_chart, parameter_breakdown_chart

LABELS = ("The", "·cat", "·sat", "·<b>x</b>", "·cat")


def test_gradient_chart_plots_gradients_relative_to_the_last_token_on_log_y():
    rnn = np.array([1e-6, 1e-4, 1e-2, 0.5, 2.0])
    attention = np.array([0.5, 0.5, 0.5, 0.5, 0.5])
    figure = gradient_decay_chart(LABELS, {"RNN (tanh)": rnn, "Self-attention": attention})
    assert figure.layout.yaxis.type == "log"
    assert [trace.name for trace in figure.data] == ["RNN (tanh)", "Self-attention"]
    np.testing.assert_allclose(figure.data[0].y, rnn / 2.0)
    np.testing.assert_allclose(figure.data[1].y, 1.0)
    assert list(figure.data[0].x) == [4, 3, 2, 1, 0]  # distance from the last token


def test_gradient_chart_keeps_repeated_tokens_apart_and_escapes_them():
    figure = gradient_decay_chart(LABELS, {"RNN (tanh)": np.ones(5)})
    ticks = list(figure.layout.xaxis.ticktext)
    assert len(ticks) == 5 and ticks.count("·cat") == 2
    assert ticks[3] == html.escape("·<b>x</b>") and "<b>" not in "".join(ticks)
    assert "<b>" not in "".join(figure.data[0].customdata)


def test_gradient_chart_leaves_a_gap_for_an_underflowed_gradient():
    figure = gradient_decay_chart(LABELS, {"RNN (tanh)": np.array([0.0, 1e-3, 1e-2, 1e-1, 1.0])})
    assert np.isnan(figure.data[0].y[0]) and figure.data[0].y[-1] == 1.0


def test_long_sentences_drop_tick_labels_but_keep_hover():
    labels = tuple(f"t{i}" for i in range(100))
    figure = gradient_decay_chart(labels, {"GRU": np.linspace(0.01, 1, 100)})
    assert figure.layout.xaxis.ticktext is None
    assert figure.data[0].customdata[0] == "t0"


def test_parameter_chart_shows_counts_and_shares():
    components = pd.DataFrame({"component": ["Token embeddings", "MLP"], "parameters": [300, 700],
                               "share": [0.3, 0.7]})
    figure = parameter_breakdown_chart(components)
    assert list(figure.data[0].x) == [300, 700]
    assert list(figure.data[0].y) == ["Token embeddings", "MLP"]
    assert figure.data[0].text == ("300 (30.0%)", "700 (70.0%)")


def test_memory_chart_stacks_parts_in_gigabytes():
    rows = pd.DataFrame([("fp16", "weights", 14e9), ("fp16", "KV cache", 1e9), ("int8", "weights", 7e9)],
                        columns=["setting", "part", "bytes"])
    figure = memory_chart(rows)
    assert figure.layout.barmode == "stack"
    weights, kv = figure.data
    assert (weights.name, kv.name) == ("weights", "KV cache")
    assert list(weights.x) == ["fp16", "int8"]
    np.testing.assert_allclose(weights.y, [14.0, 7.0])
    np.testing.assert_allclose(kv.y, [1.0, 0.0])  # no KV row for int8: an empty segment, not a shifted bar


def test_lora_chart_has_full_fine_tuning_as_a_line():
    figure = lora_chart([1, 2, 4], [10, 20, 40], 1000)
    assert list(figure.data[0].y) == [10, 20, 40]
    assert figure.layout.yaxis.type == "log"
    assert list(figure.data[1].y) == [1000, 1000, 1000] and "1,000" in figure.data[1].name
    low, high = figure.layout.yaxis.range
    assert low < 1 < 3 < high  # both the LoRA points (10¹) and the full line (10³) are in view
    assert list(figure.layout.xaxis.tickvals) == [1, 2, 4]


@pytest.mark.parametrize("done", [[True, False], [False, False]])
def test_lifecycle_html_escapes_titles_and_counts_done(done):
    stages = [("Scope <script>alert(1)</script>", done[0]), ("Deploy", done[1])]
    page = lifecycle_progress_html(stages)
    assert "<script>" not in page
    assert html.escape("<script>alert(1)</script>") in page
    assert page.count('data-done="true"') == sum(done)
    assert f"{sum(done)} of 2 stages done" in page

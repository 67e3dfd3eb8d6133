"""Views of prompt strategies: escaped probability chips, accuracy bars, accuracy against k with spread."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from viz.prompting import accuracy_bars, accuracy_vs_k, completion_tokens_html


def test_chips_escape_hostile_tokens_and_show_whitespace():
    tokens = ["<img src=x onerror=alert(1)>", "·</script>", "↵", '"&\'', "🎉"]  # labels from core.tokens.token_label
    html = completion_tokens_html(tokens, np.log([0.9, 0.5, 0.1, 0.99, 0.01]))
    assert "<img" not in html and "</script>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "·&lt;/script&gt;" in html
    assert "↵" in html and "🎉" in html and "&quot;&amp;&#x27;" in html
    assert html.count("<span title=") == len(tokens)


def test_chip_colour_and_label_follow_the_probability():
    html = completion_tokens_html(["a", "b", "c"], np.log([1.0, 0.5, 1e-6]))
    hues = [int(h) for h in re.findall(r"hsl\((\d+),", html)]
    assert hues == [120, 60, 0]  # green for certain, yellow for a coin flip, red for a surprise
    assert [p for p in re.findall(r"> (\d+)%</sub>", html)] == ["100", "50", "0"]
    assert 'title="&#x27;b&#x27;: p = 0.500"' in html


def test_no_tokens_gives_a_placeholder_not_an_empty_box():
    assert "no tokens generated" in completion_tokens_html([], np.zeros(0))


def _curve(ks, means, lows, highs, runs):
    means = np.asarray(means, dtype=float)
    return pd.DataFrame({"k": ks, "mean": means, "std": [0.0] * len(ks), "min": lows, "max": highs, "runs": runs})


def test_accuracy_vs_k_error_bars_span_worst_to_best_order():
    curve = _curve([0, 1, 4], [0.2, 0.6, 0.8], [0.2, 0.5, 0.7], [0.2, 0.9, 0.85], [1, 3, 3])
    figure = accuracy_vs_k({"This run": curve})
    trace = figure.data[0]
    assert list(trace.x) == [0, 1, 4] and list(trace.y) == pytest.approx([0.2, 0.6, 0.8])
    assert list(trace.error_y.array) == pytest.approx([0.0, 0.3, 0.05])
    assert list(trace.error_y.arrayminus) == pytest.approx([0.0, 0.1, 0.1])
    assert list(figure.layout.xaxis.tickvals) == [0, 1, 4]


def test_accuracy_vs_k_error_bars_are_the_wilson_interval_when_given():
    from core.prompting import stats

    curve = _curve([0, 1], [0.2, 0.7], [0.2, 0.5], [0.2, 0.9], [1, 3])
    zero, one = stats.wilson(6, 30), stats.wilson(21, 30)
    curve["ci_low"], curve["ci_high"] = [zero.low, one.low], [zero.high, one.high]
    trace = accuracy_vs_k({"This run": curve}).data[0]
    assert list(trace.error_y.array) == pytest.approx([zero.high - 0.2, one.high - 0.7])
    assert list(trace.error_y.arrayminus) == pytest.approx([0.2 - zero.low, 0.7 - one.low])
    assert "95% CI" in trace.hovertemplate


def test_accuracy_bars_carry_the_interval_as_error_bars():
    table = pd.DataFrame({"strategy": ["zero-shot", "few-shot (k=3)"], "k": [0, 3], "correct": [3, 27],
                          "scored": [30, 30], "accuracy": [0.1, 0.9], "accuracy_low": [0.03, 0.74],
                          "accuracy_high": [0.26, 0.97]})
    trace = accuracy_bars({"This run": table}).data[0]
    assert list(trace.error_y.array) == pytest.approx([0.16, 0.07])
    assert list(trace.error_y.arrayminus) == pytest.approx([0.07, 0.16])


def test_accuracy_vs_k_overlays_runs_with_all_their_shot_counts():
    first = _curve([0, 2], [0.1, 0.5], [0.1, 0.4], [0.1, 0.6], [1, 2])
    second = _curve([0, 1, 3], [0.3, 0.4, 0.9], [0.3, 0.4, 0.9], [0.3, 0.4, 0.9], [1, 1, 1])
    figure = accuracy_vs_k({"This run": first, "Loaded": second})
    assert [t.name for t in figure.data] == ["This run", "Loaded"]
    assert list(figure.layout.xaxis.tickvals) == [0, 1, 2, 3]


def test_accuracy_bars_label_each_strategy_with_counts():
    table = pd.DataFrame({"strategy": ["zero-shot", "one-shot", "few-shot (k=3)"], "k": [0, 1, 3],
                          "correct": [3, 15, 27], "scored": [30, 30, 30], "accuracy": [0.1, 0.5, 0.9]})
    figure = accuracy_bars({"This run": table})
    bar = figure.data[0]
    assert list(bar.x) == ["zero-shot", "one-shot", "few-shot (k=3)"]
    assert list(bar.y) == pytest.approx([0.1, 0.5, 0.9])
    assert list(bar.text) == ["10% (3/30)", "50% (15/30)", "90% (27/30)"]
    assert figure.layout.showlegend is False
    both = accuracy_bars({"This run": table, "Loaded": table.assign(accuracy=[0.2, 0.2, 0.2])})
    assert both.layout.barmode == "group" and both.layout.showlegend is True and len(both.data) == 2


# --- Evaluation views ---


def test_label_probabilities_escape_labels_and_sort_by_probability():
    from viz.prompting import label_probabilities_html

    html = label_probabilities_html(["<b>x</b>", "negative"], [0.18, 0.82])
    assert "<b>x" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert html.index("negative") < html.index("&lt;b&gt;")  # most likely first
    assert "0.82" in html and "0.18" in html and 'title="negative 0.82 · &lt;b&gt;x&lt;/b&gt; 0.18"' in html


def test_confusion_heatmap_keeps_repeated_looking_labels_apart_and_escaped():
    from viz.prompting import confusion_heatmap

    table = pd.DataFrame([[3, 1, 0], [0, 2, 1]], index=["a", "<i>b</i>"], columns=["a", "<i>b</i>", "(no label)"])
    figure = confusion_heatmap(table, "Confusion: few-shot")
    heat = figure.data[0]
    assert np.asarray(heat.z).tolist() == [[3, 1, 0], [0, 2, 1]]
    assert list(figure.layout.xaxis.ticktext) == ["a", "&lt;i&gt;b&lt;/i&gt;", "(no label)"]
    assert list(figure.layout.yaxis.ticktext) == ["a", "&lt;i&gt;b&lt;/i&gt;"]
    assert list(heat.x) == [0, 1, 2]  # integer positions: labels never merge


def test_reliability_diagram_draws_filled_bins_and_the_diagonal():
    from core.prompting.eval_metrics import reliability
    from viz.prompting import reliability_diagram

    table = reliability(np.array([0.95, 0.95, 0.55]), np.array([True, False, True]))
    figure = reliability_diagram(table, 0.3)
    bars, diagonal = figure.data
    assert list(bars.y) == pytest.approx([1.0, 0.5]) and list(bars.x) == pytest.approx([0.55, 0.95])
    assert list(diagonal.x) == [0, 1] and list(diagonal.y) == [0, 1]
    assert "ECE 0.300" in figure.layout.title.text


def test_label_bias_and_shot_influence_bars():
    from viz.prompting import label_bias_bars, shot_influence_bars

    bias = label_bias_bars(pd.DataFrame({"label": ["a", "b"], "predicted": [0.9, 0.1], "true": [0.5, 0.5]}))
    assert [t.name for t in bias.data] == ["predicted", "true"] and list(bias.data[0].y) == [0.9, 0.1]
    table = pd.DataFrame({"shot": [1, 2], "text": ["<b>t</b>", "u"], "label": ["x", "y"],
                          "delta_logprob": [0.4, -0.1], "delta_accuracy": [0.25, 0.0]})
    figure = shot_influence_bars(table)
    logprob, accuracy = figure.data
    assert list(logprob.y) == pytest.approx([0.4, -0.1]) and list(accuracy.y) == pytest.approx([0.25, 0.0])
    assert logprob.marker.color[0] != logprob.marker.color[1]  # helped vs hurt
    assert "<b>" not in logprob.customdata[0]

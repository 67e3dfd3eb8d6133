"""Generation views from synthetic data: token axes by position, removed tokens marked, HTML escaped."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
from plotly_arrays import plotly_array

from viz import generation as viz

HOSTILE = "</script><script>alert(1)</script><img src=x onerror=alert(1)> 👍"


def _candidates() -> pd.DataFrame:
    probs = np.array([0.5, 0.2, 0.2, 0.1])
    return pd.DataFrame(
        {"rank": [1, 2, 3, 4], "token_id": [7, 8, 9, 10], "token": ["·the", "·a", "·the", "↵"],
         "probability": probs, "logprob": np.log(probs)}
    )


def test_candidate_bars_keep_repeated_labels_on_separate_rows():
    figure = viz.candidates_bar(_candidates())
    bar = figure.data[0]
    assert plotly_array(bar.y).tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(plotly_array(bar.x), [0.5, 0.2, 0.2, 0.1])
    assert list(figure.layout.yaxis.ticktext) == ["·the", "·a", "·the", "↵"]
    assert figure.layout.yaxis.autorange == "reversed"  # rank 1 on top
    assert list(bar.text) == ["50.0%", "20.0%", "20.0%", "10.0%"]


def test_filter_bars_grey_out_removed_tokens():
    table = pd.DataFrame(
        {"rank": [1, 2, 3], "token": ["A", "B", "C"], "before": [0.6, 0.3, 0.1],
         "after": [2 / 3, 1 / 3, 0.0], "kept": [True, True, False]}
    )
    figure = viz.filter_bars(table, n_kept=2, vocab_size=400)
    before, after = figure.data
    np.testing.assert_allclose(plotly_array(before.x), [0.6, 0.3, 0.1])
    np.testing.assert_allclose(plotly_array(after.x), [2 / 3, 1 / 3, 0.0])
    assert list(after.marker.color) == [viz.KEPT_COLOUR, viz.KEPT_COLOUR, viz.REMOVED_COLOUR]
    assert list(after.text)[-1] == "removed"
    assert "2 of 400 tokens kept" in figure.layout.annotations[1].text


def test_lens_heatmap_puts_layers_on_y_and_positions_on_x():
    final = np.array([[0.0, 0.1, 0.2], [0.1, 0.5, 0.9]])  # (layer+1, pos)
    tops = [["x", "y", "z"], ["p", "q", "Paris"]]
    figure = viz.lens_heatmap(final, tops, ["·is", "·is", HOSTILE], np.array([4, 5, 6]))
    heat = figure.data[0]
    np.testing.assert_allclose(plotly_array(heat.z), final)
    assert plotly_array(heat.x).tolist() == [0, 1, 2]
    assert np.asarray(heat.text).tolist() == tops
    ticks = list(figure.layout.xaxis.ticktext)
    # Plotly draws a subset of HTML in tick text: a person must see every label literally.
    assert [html.unescape(t) for t in ticks] == ["4: ·is", "5: ·is", f"6: {HOSTILE}"]  # repeats stay apart
    assert not any("<" in t for t in ticks) and "&lt;script&gt;" in ticks[2]
    assert list(figure.layout.yaxis.ticktext) == ["embed", "1"]


def test_completion_html_escapes_prompt_and_tokens_and_tints_by_probability():
    markup = viz.completion_html(HOSTILE, ["<b>", " ok"], [0.0, 1.0])
    assert "<script>" not in markup and "<img" not in markup and "<b>" not in markup
    assert "&lt;script&gt;" in markup and "&lt;b&gt;" in markup and "👍" in markup
    assert "rgba(31,119,180,0.15)" in markup and "rgba(31,119,180,0.75)" in markup

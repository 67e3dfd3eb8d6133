"""Attention figures on synthetic arrays: values, positions, labels, hover text and escaping."""

from __future__ import annotations

import html
import re

import numpy as np
import pytest

from viz import attention as viz

HOSTILE = ("<img src=x onerror=alert(1)>", "the", "</script>", "the", "👍🏽", "&amp;")


def _causal(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    weights = np.tril(rng.random((n, n)))
    return weights / weights.sum(-1, keepdims=True)


def test_heatmap_keeps_values_and_repeated_tokens_distinct():
    weights = _causal(6)
    labels = ("the", "cat", "the", "cat", "the", "end")
    figure = viz.attention_heatmap(weights, labels, "Layer 0, head 1")
    trace = figure.data[0]
    np.testing.assert_allclose(np.asarray(trace.z), weights)
    assert list(trace.x) == list(range(6)) and list(trace.y) == list(range(6))
    axis = figure.layout.xaxis
    assert list(axis.tickvals) == list(range(6))  # six rows, although only four distinct tokens
    assert list(axis.ticktext) == list(labels)
    assert figure.layout.yaxis.autorange == "reversed"  # first token on top, like reading order
    assert figure.layout.title.text == "Layer 0, head 1"


def test_heatmap_hover_names_both_tokens_and_positions():
    figure = viz.attention_heatmap(_causal(4), ("a", "b", "a", "c"))
    text = np.asarray(figure.data[0].text)
    assert text[3][2] == "c (#3) → a (#2)"
    assert "%{z:.3f}" in figure.data[0].hovertemplate and "%{text}" in figure.data[0].hovertemplate


def test_heatmap_offsets_positions_when_first_token_hidden():
    figure = viz.attention_heatmap(_causal(3), ("b", "c", "d"), first_position=1)
    assert list(figure.data[0].x) == [1, 2, 3]
    assert list(figure.layout.xaxis.tickvals) == [1, 2, 3]
    assert np.asarray(figure.data[0].text)[0][0] == "b (#1) → b (#1)"


def test_heatmap_escapes_tokens_in_ticks_and_hover():
    figure = viz.attention_heatmap(_causal(6), HOSTILE)
    texts = [*figure.layout.xaxis.ticktext, *np.asarray(figure.data[0].text).ravel().tolist()]
    assert not any("<img" in t or "</script" in t for t in texts)
    assert figure.layout.xaxis.ticktext[0] == "&lt;img src=x onerror=alert(1)&gt;"
    assert figure.layout.xaxis.ticktext[5] == "&amp;amp;"  # "&amp;" typed by the user stays visible as typed


def test_large_heatmap_thins_ticks_and_drops_per_cell_hover():
    n = 512
    labels = tuple(f"t{i}" for i in range(n))
    figure = viz.attention_heatmap(_causal(n), labels)
    assert figure.data[0].text is None
    assert "query #%{y}" in figure.data[0].hovertemplate
    ticks = list(figure.layout.xaxis.tickvals)
    assert len(ticks) <= viz.TICKS_MAX and ticks[0] == 0
    assert figure.layout.xaxis.ticktext[1] == f"t{ticks[1]} #{ticks[1]}"
    assert np.asarray(figure.data[0].z).shape == (n, n)


def test_heatmap_draws_the_answer_boundary():
    figure = viz.attention_heatmap(_causal(5), tuple("abcde"), boundary=3)
    edges = {(s.x0, s.y0) for s in figure.layout.shapes}
    assert len(figure.layout.shapes) == 2 and (2.5, 2.5) in edges
    assert not viz.attention_heatmap(_causal(5), tuple("abcde"), boundary=0).layout.shapes


def test_heatmap_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="3 labels"):
        viz.attention_heatmap(_causal(4), ("a", "b", "c"))


def test_head_grid_has_one_panel_per_head_on_a_shared_scale():
    weights = np.stack([_causal(5, seed) for seed in range(9)])
    figure = viz.head_grid(weights, tuple("abcde"), tuple(str(h) for h in range(9)), "Layer 3")
    assert len(figure.data) == 9
    np.testing.assert_allclose(np.asarray(figure.data[4].z), weights[4])
    assert {t.coloraxis for t in figure.data} == {"coloraxis"}
    assert [a.text for a in figure.layout.annotations][:2] == ["head 0", "head 1"]


def test_head_grid_pools_long_prompts_keeping_rows_summing_to_one():
    n = 300
    weights = np.stack([_causal(n, 1), _causal(n, 2)])
    figure = viz.head_grid(weights, tuple(str(i) for i in range(n)), ("0", "1"))
    z = np.asarray(figure.data[0].z)
    assert z.shape[0] <= viz.GRID_SIDE_MAX
    np.testing.assert_allclose(z.sum(-1), 1.0, atol=1e-6)
    assert list(figure.data[0].x)[:2] == [0, 3]  # blocks of 3 positions


def test_overview_tiles_every_layer_and_head():
    layers, heads, n = 3, 4, 5
    weights = np.stack([np.stack([_causal(n, 10 * la + h) for h in range(heads)]) for la in range(layers)])
    figure = viz.layers_heads_overview(weights, ("0", "1", "2"), ("0", "1", "2", "3"))
    z = np.asarray(figure.data[0].z, dtype=float)
    cell = n + 1
    assert z.shape == (layers * cell, heads * cell)  # fewer layers than heads: layers are rows
    np.testing.assert_allclose(z[2 * cell: 2 * cell + n, 3 * cell: 3 * cell + n], weights[2, 3])
    assert np.isnan(z[n, :]).all()  # gap line between layers
    owner = np.asarray(figure.data[0].customdata)
    assert tuple(owner[2 * cell + 1, 3 * cell + 1]) == (2, 3)
    assert list(figure.layout.yaxis.ticktext) == ["layer 0", "layer 1", "layer 2"]
    assert figure.layout.yaxis.scaleanchor == "x"  # square thumbnails


def test_overview_puts_many_layers_across_and_pools_long_prompts():
    layers, heads, n = 6, 2, 40
    weights = np.broadcast_to(_causal(n), (layers, heads, n, n)).copy()
    weights[4, 1] = np.eye(n)
    figure = viz.layers_heads_overview(weights, tuple(map(str, range(layers))), ("0", "1"))
    z = np.asarray(figure.data[0].z, dtype=float)
    side = int(np.ceil(n / int(np.ceil(n / viz.THUMB_SIDE_MAX))))
    cell = side + 1
    assert z.shape == (heads * cell, layers * cell)  # layers run across
    thumb = z[cell: cell + side, 4 * cell: 4 * cell + side]  # head 1 row, layer 4 column
    np.testing.assert_allclose(thumb.sum(-1), 1.0, atol=1e-6)
    assert np.allclose(np.triu(thumb, 1), 0) and np.diag(thumb).min() > 0.3  # pooled identity stays diagonal
    assert tuple(np.asarray(figure.data[0].customdata)[cell + 1, 4 * cell + 1]) == (4, 1)
    assert list(figure.layout.xaxis.ticktext)[4] == "L4"
    spots = figure.data[1]  # one clickable marker per thumbnail, at its centre
    index = list(map(tuple, spots.customdata)).index((4, 1))
    assert (spots.x[index], spots.y[index]) == (4 * cell + (side - 1) / 2, cell + (side - 1) / 2)
    assert len(spots.x) == layers * heads


def test_token_html_shades_by_weight_and_escapes():
    weights = np.array([0.1, 0.5, 0.0, 0.2, 0.2, 0.0])
    body = viz.token_attention_html(weights, HOSTILE, query=3)
    assert "<img" not in body and "</script>" not in body
    shown = html.unescape(re.sub(r"<[^>]+>", "", body))
    assert shown == "".join(HOSTILE)
    alphas = [float(a) for a in re.findall(r"rgba\(30,100,220,([\d.]+)\)", body)]
    assert alphas == pytest.approx([0.2, 1.0, 0.0, 0.4, 0.4, 0.0])
    assert body.count("outline:2px solid crimson") == 1
    assert 'title="#1 the: 0.500"' in body

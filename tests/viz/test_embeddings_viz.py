"""Embedding views on synthetic arrays: the data in each figure, token axes, escaping."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from viz.embeddings import (
    MAX_TEXT_POINTS,
    embedding_heatmap,
    layer_similarity_chart,
    neighbours_chart,
    pca_scatter,
    point_labels,
    similarity_heatmap,
    vector_norms_chart,
)

LABELS = ["The", "·bank", "·and", "·the", "·bank", "<img src=x onerror=alert(1)>"]


def test_point_labels_keep_repeated_tokens_apart_and_escape():
    labels = point_labels(LABELS)
    assert labels[1] == "1:·bank" and labels[4] == "4:·bank"
    assert len(set(labels)) == len(labels)
    assert labels[5] == "5:&lt;img src=x onerror=alert(1)&gt;"
    assert point_labels(["a", ""], first=3) == ["3:a", "4"]


def test_embedding_heatmap_rows_are_tokens_columns_dimensions():
    vectors = np.random.default_rng(0).normal(size=(6, 16))
    figure = embedding_heatmap(vectors, LABELS)
    heat = figure.data[0]
    np.testing.assert_array_equal(np.asarray(heat.z), vectors)
    assert list(figure.layout.yaxis.tickvals) == list(range(6))
    assert list(figure.layout.yaxis.ticktext) == point_labels(LABELS)
    assert heat.zmin == -heat.zmax  # centred scale: sign is visible
    assert np.mean(np.abs(vectors) <= heat.zmax) >= 0.98 and heat.zmax < np.abs(vectors).max()


def test_embedding_heatmap_scale_is_not_washed_out_by_an_outlier():
    vectors = np.random.default_rng(1).uniform(-1, 1, size=(20, 50))
    vectors[0, 0] = 100.0
    assert embedding_heatmap(vectors, ["t"] * 20).data[0].zmax < 2


def test_vector_norms_chart():
    norms = np.array([1.0, 2.5, 0.5, 3.0, 2.5, 1.0])
    figure = vector_norms_chart(norms, LABELS)
    np.testing.assert_array_equal(np.asarray(figure.data[0].y), norms)
    assert list(figure.layout.xaxis.ticktext) == point_labels(LABELS)


def test_pca_scatter_2d_and_3d():
    coords = np.arange(12, dtype=float).reshape(6, 2)
    flat = pca_scatter(coords, LABELS, np.array([0.7, 0.2]), "t")
    trace = flat.data[0]
    assert isinstance(trace, go.Scatter)
    np.testing.assert_array_equal(np.asarray(trace.x), coords[:, 0])
    np.testing.assert_array_equal(np.asarray(trace.y), coords[:, 1])
    assert list(trace.text) == point_labels(LABELS) and trace.mode == "markers+text"
    assert flat.layout.xaxis.title.text == "PC1 (70%)"
    coords3 = np.arange(18, dtype=float).reshape(6, 3)
    deep = pca_scatter(coords3, LABELS[1:] + ["x"], np.array([0.5, 0.3, 0.1]), "t", first=1)
    trace3 = deep.data[0]
    assert isinstance(trace3, go.Scatter3d)
    np.testing.assert_array_equal(np.asarray(trace3.z), coords3[:, 2])
    assert trace3.text[0] == "1:·bank"  # positions keep counting from the first shown token
    assert deep.layout.scene.zaxis.title.text == "PC3 (10%)"


def test_pca_scatter_hides_text_when_crowded():
    n = MAX_TEXT_POINTS + 1
    figure = pca_scatter(np.zeros((n, 2)), ["a"] * n, np.array([0.5, 0.5]))
    assert figure.data[0].mode == "markers"


def test_similarity_heatmap_holds_the_matrix_on_a_fixed_scale():
    matrix = np.eye(6) * 0.5 + 0.5
    figure = similarity_heatmap(matrix, LABELS, "s")
    heat = figure.data[0]
    np.testing.assert_array_equal(np.asarray(heat.z), matrix)
    assert (heat.zmin, heat.zmax) == (-1, 1)
    assert heat.customdata[1][4] == "1:·bank ↔ 4:·bank"
    shifted = similarity_heatmap(matrix[1:, 1:], LABELS[1:], "s", first=1)
    assert list(shifted.layout.xaxis.tickvals) == [1, 2, 3, 4, 5]
    assert list(np.asarray(shifted.data[0].x)) == [1, 2, 3, 4, 5]


def test_layer_similarity_chart_one_line_per_pair():
    pairs = {(1, 4): np.array([1.0, 0.8, 0.5]), (0, 3): np.array([0.9, 0.9, 0.7])}
    figure = layer_similarity_chart(pairs, LABELS)
    assert [trace.name for trace in figure.data] == ["1:·bank ↔ 4:·bank", "0:The ↔ 3:·the"]
    np.testing.assert_array_equal(np.asarray(figure.data[0].y), [1.0, 0.8, 0.5])
    np.testing.assert_array_equal(np.asarray(figure.data[0].x), [0, 1, 2])


def test_neighbours_chart_sorted_and_escaped():
    figure = neighbours_chart(["·queen", "<b>"], np.array([0.62, 0.5]), "·king")
    bar = figure.data[0]
    np.testing.assert_allclose(np.asarray(bar.x), [0.62, 0.5])
    assert list(figure.layout.yaxis.ticktext) == ["·queen", "&lt;b&gt;"]
    assert "·king" in figure.layout.title.text

"""Every figure shows hostile labels as text: plotly would render <b>, <a href> in tick, hover, legend text."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from viz import attention, embeddings, generation, model_pages, prompting, tokens, why
from viz.plotly_text import plotly_text, plotly_texts

BOLD, LINK = "<b>x</b>", '<a href="https://example.com">y</a>'
LABELS = (BOLD, LINK, "a & b", "plain")
ESCAPED_BOLD = "&lt;b&gt;x&lt;/b&gt;"


def _strings(node):
    """Every string anywhere in a decoded figure (data, layout, arrays of text)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _decoded(figure) -> list[str]:
    return list(_strings(json.loads(figure.to_json())))


def _candidates() -> pd.DataFrame:
    return pd.DataFrame({"rank": [1, 2, 3, 4], "token_id": [0, 1, 2, 3], "token": list(LABELS),
                         "probability": [0.4, 0.3, 0.2, 0.1], "logprob": np.log([0.4, 0.3, 0.2, 0.1])})


def _distribution() -> pd.DataFrame:
    return pd.DataFrame({"rank": [1, 2, 3, 4], "token": list(LABELS), "before": [0.4, 0.3, 0.2, 0.1],
                         "after": [0.5, 0.5, 0.0, 0.0], "kept": [True, True, False, False]})


def _curve() -> pd.DataFrame:
    return pd.DataFrame({"k": [0, 1], "mean": [0.5, 0.6], "std": [0.0, 0.1], "min": [0.5, 0.5],
                         "max": [0.5, 0.7], "runs": [1, 3]})


square = np.full((4, 4), 0.25)
FIGURES = {
    "attention_heatmap": lambda: attention.attention_heatmap(square, LABELS, BOLD),
    "head_grid": lambda: attention.head_grid(np.stack([square, square]), LABELS, (BOLD, "1"), LINK),
    "layers_heads_overview": lambda: attention.layers_heads_overview(square[None, None].repeat(2, 0), (BOLD, "1"),
                                                                     (LINK,)),
    "embedding_heatmap": lambda: embeddings.embedding_heatmap(np.ones((4, 3)), LABELS, BOLD),
    "vector_norms_chart": lambda: embeddings.vector_norms_chart(np.ones(4), LABELS),
    "pca_scatter": lambda: embeddings.pca_scatter(np.ones((4, 2)), LABELS, np.array([0.5, 0.3])),
    "pca_scatter_3d": lambda: embeddings.pca_scatter(np.ones((4, 3)), LABELS, np.array([0.5, 0.3, 0.1])),
    "similarity_heatmap": lambda: embeddings.similarity_heatmap(np.eye(4), LABELS, BOLD),
    "layer_similarity_chart": lambda: embeddings.layer_similarity_chart({(0, 1): np.ones(3)}, LABELS),
    "neighbours_chart": lambda: embeddings.neighbours_chart(LABELS, np.ones(4), BOLD),
    "candidates_bar": lambda: generation.candidates_bar(_candidates()),
    "filter_bars": lambda: generation.filter_bars(_distribution(), 2, 4),
    "lens_heatmap": lambda: generation.lens_heatmap(np.ones((2, 4)) / 2, [LABELS, LABELS], LABELS, np.arange(4)),
    "gradient_decay_chart": lambda: model_pages.gradient_decay_chart(LABELS, {BOLD: np.ones(4)}),
    "parameter_breakdown_chart": lambda: model_pages.parameter_breakdown_chart(
        pd.DataFrame({"component": list(LABELS), "parameters": [1, 2, 3, 4], "share": [0.1, 0.2, 0.3, 0.4]})),
    "memory_chart": lambda: model_pages.memory_chart(
        pd.DataFrame({"setting": [BOLD, LINK], "part": [LINK, BOLD], "bytes": [1e9, 2e9]}), BOLD),
    "accuracy_vs_k": lambda: prompting.accuracy_vs_k({BOLD: _curve(), LINK: _curve()}),
    "accuracy_bars": lambda: prompting.accuracy_bars(
        {LINK: pd.DataFrame({"strategy": [BOLD], "correct": [1], "scored": [2], "accuracy": [0.5]})}),
    "token_count_chart": lambda: tokens.token_count_chart(list(LABELS), [1, 2, 3, 4]),
    "why_attribution_bars": lambda: why.attribution_bars(LABELS, {BOLD: [0.1, 0.2, 0.3, 0.4]}, LINK),
    "why_component_bars": lambda: why.component_bars([0.1, 0.2], [0.3, 0.4], 0.5, BOLD),
    "why_head_heatmap": lambda: why.head_heatmap(np.ones((2, 3)), BOLD, LINK),
    "why_patching_heatmap": lambda: why.patching_heatmap(np.ones((2, 4)), LABELS, BOLD),
    "why_distribution_change": lambda: why.distribution_change(LABELS, [0.4] * 4, [0.1] * 4, LINK),
    "language_cost_chart": lambda: tokens.language_cost_chart([BOLD], [LINK, "b"], np.ones((1, 2), int)),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_figure_never_carries_a_raw_tag_from_its_labels(name):
    strings = _decoded(FIGURES[name]())
    joined = "\n".join(strings)
    assert "<b>x" not in joined and "<a href" not in joined and "</a>" not in joined
    # The hostile text is still there, escaped, so the reader sees it literally.
    assert ESCAPED_BOLD in joined or "&lt;a href" in joined


def test_every_hostile_label_reaches_ticks_and_hover_escaped():
    strings = _decoded(generation.candidates_bar(_candidates()))
    assert {ESCAPED_BOLD, "&lt;a href=\"https://example.com\"&gt;y&lt;/a&gt;", "a &amp; b"} <= set(strings)


def test_plotly_text_escapes_only_what_plotly_decodes():
    assert plotly_text(BOLD) == ESCAPED_BOLD
    assert plotly_text('say "hi"') == 'say "hi"'  # plotly would show &quot; literally
    assert plotly_texts(["&lt;", 3]) == ["&amp;lt;", "3"]  # a typed entity stays typed text

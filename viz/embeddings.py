"""Views of embedding vectors: dimension heatmaps, norms, PCA scatter, similarity heatmaps, neighbours."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from viz.plotly_text import plotly_text, plotly_texts

MAX_TEXT_POINTS = 80  # past this, point labels overlap into a blur: show them on hover only


def point_labels(labels: Sequence[str], first: int = 0) -> list[str]:
    """'pos:token' labels counting from position `first` (just 'pos' for an empty label), escaped for plotly."""
    return plotly_texts(f"{pos}:{label}" if label else str(pos) for pos, label in enumerate(labels, first))


def _token_axis(labels: Sequence[str], first: int = 0) -> dict:
    # Integer positions on the axis, tokens as tick text: identical tokens never merge into one row.
    positions = list(range(first, first + len(labels)))
    return {"tickmode": "array", "tickvals": positions, "ticktext": point_labels(labels, first)}


def embedding_heatmap(vectors: np.ndarray, labels: Sequence[str], title: str = "Token embeddings") -> go.Figure:
    """Heatmap of (pos, d_model) vectors: one row per token, one column per dimension."""
    vectors = np.asarray(vectors)
    # A few outlier dimensions would wash out the rest: saturate the top 1% instead.
    limit = float(np.percentile(np.abs(vectors), 99)) or 1.0
    figure = go.Figure(
        go.Heatmap(
            z=vectors, x=np.arange(vectors.shape[1]), y=np.arange(vectors.shape[0]), colorscale="RdBu_r",
            zmin=-limit, zmax=limit, hovertemplate="position %{y} · dim %{x}: %{z:.3f}<extra></extra>",
        )
    )
    figure.update_layout(
        title=plotly_text(title), xaxis_title="dimension", height=min(1200, max(260, 22 * len(labels) + 120)),
        yaxis={**_token_axis(labels), "autorange": "reversed"}, margin={"t": 50, "l": 10},
    )
    return figure


def vector_norms_chart(norms: np.ndarray, labels: Sequence[str], title: str = "Vector length per token") -> go.Figure:
    """Bar chart of each token's vector length (L2 norm)."""
    norms = np.asarray(norms, dtype=float)
    figure = go.Figure(go.Bar(x=np.arange(len(norms)), y=norms, hovertext=point_labels(labels)))
    figure.update_layout(title=plotly_text(title), yaxis_title="L2 norm", xaxis=_token_axis(labels), height=320,
                         margin={"t": 50, "b": 10})
    return figure


def pca_scatter(
    coords: np.ndarray, labels: Sequence[str], explained: np.ndarray, title: str = "PCA", first: int = 0
) -> go.Figure:
    """2-D or 3-D scatter of projected tokens (coords (pos, 2|3)), each point labelled 'pos:token'."""
    coords = np.asarray(coords)
    text = point_labels(labels, first)
    mode = "markers+text" if len(text) <= MAX_TEXT_POINTS else "markers"
    colour = {"color": np.arange(first, first + len(text)), "colorscale": "Viridis", "colorbar": {"title": "position"}}
    axes = [f"PC{i + 1} ({100 * float(e):.0f}%)" for i, e in enumerate(explained)]
    if coords.shape[1] == 3:
        trace = go.Scatter3d(x=coords[:, 0], y=coords[:, 1], z=coords[:, 2], mode=mode, text=text,
                             marker={**colour, "size": 5}, hovertemplate="%{text}<extra></extra>")
        figure = go.Figure(trace)
        figure.update_layout(scene={"xaxis_title": axes[0], "yaxis_title": axes[1], "zaxis_title": axes[2]})
    else:
        trace = go.Scatter(x=coords[:, 0], y=coords[:, 1], mode=mode, text=text, textposition="top center",
                           marker={**colour, "size": 10}, hovertemplate="%{text}<extra></extra>")
        figure = go.Figure(trace)
        figure.update_layout(xaxis_title=axes[0], yaxis_title=axes[1])
    figure.update_layout(title=plotly_text(title), height=520, margin={"t": 50})
    return figure


def similarity_heatmap(
    matrix: np.ndarray, labels: Sequence[str], title: str = "Cosine similarity", first: int = 0
) -> go.Figure:
    """Heatmap of an (n, n) cosine similarity matrix on a fixed -1..1 scale; rows start at position `first`."""
    matrix = np.asarray(matrix)
    text = point_labels(labels, first)
    positions = np.arange(first, first + len(text))
    hover = {"hovertemplate": "position %{y} ↔ %{x}: %{z:.2f}<extra></extra>"}
    if len(text) <= MAX_TEXT_POINTS:  # token names in every cell's hover cost n² strings: only for short texts
        hover = {"customdata": np.array([[f"{a} ↔ {b}" for b in text] for a in text]),
                 "hovertemplate": "%{customdata}: %{z:.2f}<extra></extra>"}
    figure = go.Figure(
        go.Heatmap(z=matrix, x=positions, y=positions, zmin=-1, zmax=1, colorscale="RdBu_r", **hover)
    )
    size = max(360, min(720, 16 * len(text) + 200))
    # Square cells: the matrix is symmetric, and a squashed one hides that.
    figure.update_layout(title=plotly_text(title), height=size, xaxis=_token_axis(labels, first), margin={"t": 50},
                         yaxis={**_token_axis(labels, first), "autorange": "reversed", "scaleanchor": "x"})
    return figure


def layer_similarity_chart(
    pairs: Mapping[tuple[int, int], np.ndarray], labels: Sequence[str], title: str = "Same token, different context"
) -> go.Figure:
    """One line per repeated-token pair: cosine of their vectors at each layer (0 = embedding output)."""
    text = point_labels(labels)
    figure = go.Figure(
        [go.Scatter(x=np.arange(len(curve)), y=np.asarray(curve), mode="lines+markers", name=f"{text[a]} ↔ {text[b]}")
         for (a, b), curve in pairs.items()]
    )
    figure.update_layout(title=plotly_text(title), xaxis_title="layer (0 = embedding output)",
                         yaxis_title="cosine similarity", yaxis_range=[-0.05, 1.05], height=380, margin={"t": 50})
    return figure


def neighbours_chart(labels: Sequence[str], scores: np.ndarray, query: str) -> go.Figure:
    """Horizontal bars: the nearest vocabulary tokens to one token, most similar on top."""
    names = plotly_texts(labels)
    figure = go.Figure(go.Bar(x=np.asarray(scores, dtype=float), y=np.arange(len(names)), orientation="h",
                              text=[f"{s:.2f}" for s in scores], hovertext=names))
    figure.update_layout(
        title=f"Nearest tokens to {plotly_text(query)}", xaxis_title="cosine similarity",
        height=max(260, 26 * len(names) + 90),
        yaxis={"tickmode": "array", "tickvals": list(range(len(names))), "ticktext": names, "autorange": "reversed"},
        margin={"t": 50},
    )
    return figure

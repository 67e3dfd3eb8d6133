"""Attention views: one head's heatmap, a layer's heads, all layers × heads, one token's attention as text."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.plotly_text import plotly_text

COLORSCALE = "Blues"
HOVER_TOKENS_MAX = 256  # above this, per-cell hover strings would make the figure tens of MB
TICKS_MAX = 64  # more tick labels than this overlap; every k-th position is labelled instead
GRID_SIDE_MAX = 128  # small multiples pool larger maps down to this many cells per side
THUMB_SIDE_MAX = 16  # overview thumbnails pool to this many cells per side


_safe = plotly_text  # every token label reaching a tick, hover or title goes through it


def _ticks(labels: tuple[str, ...], first_position: int) -> dict:
    """Tick positions with "position token" text; thinned when there are too many to read."""
    step = max(1, int(np.ceil(len(labels) / TICKS_MAX)))
    values = list(range(first_position, first_position + len(labels), step))
    text = [f"{_safe(labels[v - first_position])} #{v}" if step > 1 else _safe(labels[v - first_position])
            for v in values]
    return {"tickmode": "array", "tickvals": values, "ticktext": text}


def _hover_text(labels: tuple[str, ...], first_position: int) -> np.ndarray | None:
    """(query, key) strings "query → key" with positions, or None when the map is too large."""
    n = len(labels)
    if n > HOVER_TOKENS_MAX:
        return None
    names = [f"{_safe(label)} (#{first_position + i})" for i, label in enumerate(labels)]
    return np.array([[f"{q} → {k}" for k in names] for q in names], dtype=object)


def attention_heatmap(
    weights: np.ndarray,
    labels: tuple[str, ...],
    title: str = "",
    first_position: int = 0,
    boundary: int | None = None,
) -> go.Figure:
    """Heatmap of one head: rows are queries (the token reading), columns keys (the token read).

    weights: (query, key); labels: one per position; boundary: first position of generated text.
    """
    n = len(labels)
    if weights.shape != (n, n):
        raise ValueError(f"weights has shape {weights.shape} but there are {n} labels.")
    positions = np.arange(first_position, first_position + n)
    hover = _hover_text(labels, first_position)
    template = "%{text}: %{z:.3f}<extra></extra>" if hover is not None else (
        "query #%{y} → key #%{x}: %{z:.3f}<extra></extra>"
    )
    figure = go.Figure(
        go.Heatmap(
            z=weights, x=positions, y=positions, text=hover, hovertemplate=template,
            colorscale=COLORSCALE, zmin=0, zmax=float(max(weights.max(), 1e-9)),
            colorbar={"title": {"text": "weight"}},
        )
    )
    side = min(900, max(380, 14 * n + 160))
    figure.update_layout(
        title=plotly_text(title), height=side, margin={"l": 10, "r": 10, "t": 50 if title else 10, "b": 10},
        xaxis={"title": "key (attended to)", **_ticks(labels, first_position)},
        yaxis={"title": "query (attending)", **_ticks(labels, first_position), "autorange": "reversed"},
    )
    if boundary is not None and first_position < boundary < first_position + n:
        edge = boundary - 0.5
        for line in ({"x0": edge, "x1": edge, "y0": edge, "y1": first_position + n - 0.5},
                     {"x0": first_position - 0.5, "x1": first_position + n - 0.5, "y0": edge, "y1": edge}):
            figure.add_shape(type="line", line={"color": "crimson", "width": 2, "dash": "dash"}, **line)
    return figure


def _pool(weights: np.ndarray, side: int) -> tuple[np.ndarray, int]:
    """Shrink (..., query, key) to at most side × side: mean over query blocks, sum over key
    blocks, so pooled rows still sum to 1. Returns the pooled array and the block size."""
    n = weights.shape[-1]
    block = max(1, int(np.ceil(n / side)))
    if block == 1:
        return weights, 1
    cells = int(np.ceil(n / block))
    padded = np.zeros((*weights.shape[:-2], cells * block, cells * block), dtype=np.float64)
    padded[..., :n, :n] = weights
    shaped = padded.reshape(*weights.shape[:-2], cells, block, cells, block)
    counts = np.minimum(block, n - np.arange(cells) * block)  # real rows per query block
    return shaped.sum(axis=(-3, -1)) / counts[:, None], block


def head_grid(
    weights: np.ndarray, labels: tuple[str, ...], head_labels: tuple[str, ...], title: str = "",
    first_position: int = 0,
) -> go.Figure:
    """Small multiples: every head of one layer side by side, on one shared colour scale.

    weights: (head, query, key); large maps are pooled to GRID_SIDE_MAX cells per side.
    """
    heads, n = weights.shape[0], len(labels)
    if weights.shape[1:] != (n, n) or len(head_labels) != heads:
        raise ValueError(f"weights has shape {weights.shape} for {n} labels and {len(head_labels)} heads.")
    pooled, block = _pool(weights, GRID_SIDE_MAX)
    columns = min(heads, 6)
    rows = int(np.ceil(heads / columns))
    figure = make_subplots(rows=rows, cols=columns, subplot_titles=[f"head {_safe(h)}" for h in head_labels],
                           horizontal_spacing=0.02, vertical_spacing=0.06)
    positions = first_position + np.arange(pooled.shape[-1]) * block
    top = float(max(pooled.max(), 1e-9))
    for index in range(heads):
        figure.add_trace(
            go.Heatmap(
                z=pooled[index], x=positions, y=positions, coloraxis="coloraxis",
                hovertemplate=f"head {_safe(head_labels[index])}: query #%{{y}} → key #%{{x}}: %{{z:.3f}}"
                "<extra></extra>",
            ),
            row=index // columns + 1, col=index % columns + 1,
        )
    figure.update_yaxes(autorange="reversed", showticklabels=False)
    figure.update_xaxes(showticklabels=False)
    figure.update_layout(
        title=plotly_text(title), height=170 * rows + 80, coloraxis={"colorscale": COLORSCALE, "cmin": 0, "cmax": top},
        margin={"l": 10, "r": 10, "t": 70, "b": 10},
    )
    return figure


def layers_heads_overview(
    weights: np.ndarray, layer_labels: tuple[str, ...], head_labels: tuple[str, ...]
) -> go.Figure:
    """Every layer × head as one mosaic of square thumbnails; the longer of the two runs across.

    weights: (layer, head, query, key); each map is pooled to THUMB_SIDE_MAX cells per side.
    """
    layers, heads = weights.shape[:2]
    if (len(layer_labels), len(head_labels)) != (layers, heads):
        raise ValueError(f"weights has shape {weights.shape} for {len(layer_labels)} layers, {len(head_labels)} heads.")
    pooled, _ = _pool(weights, THUMB_SIDE_MAX)
    side = pooled.shape[-1]
    cell = side + 1  # one empty (NaN) line between thumbnails
    across = layers > heads  # 30 layers × 9 heads reads best with layers as columns
    rows, cols = (heads, layers) if across else (layers, heads)
    mosaic = np.full((rows * cell, cols * cell), np.nan)
    owner = np.full((rows * cell, cols * cell, 2), -1)
    for layer in range(layers):
        for head in range(heads):
            row, col = (head, layer) if across else (layer, head)
            block = (slice(row * cell, row * cell + side), slice(col * cell, col * cell + side))
            mosaic[block] = pooled[layer, head]
            owner[block] = (layer, head)
    figure = go.Figure(
        go.Heatmap(
            z=mosaic, customdata=owner, colorscale=COLORSCALE, zmin=0, hoverongaps=False,
            zmax=float(np.nanmax(mosaic)) if np.isfinite(mosaic).any() else 1.0,
            hovertemplate="layer %{customdata[0]}, head %{customdata[1]}: %{z:.3f}<extra></extra>",
        )
    )
    # Heatmaps cannot be selected by a click; an invisible marker on each thumbnail can.
    centre = (side - 1) / 2
    pairs = [(layer, head) for layer in range(layers) for head in range(heads)]
    spots = [((h, la) if across else (la, h)) for la, h in pairs]
    figure.add_trace(
        go.Scatter(
            x=[col * cell + centre for _, col in spots], y=[row * cell + centre for row, _ in spots],
            customdata=pairs, mode="markers", showlegend=False,
            marker={"symbol": "square", "size": max(8, 1000 * side / (cols * cell) * 0.9), "opacity": 0.01},
            hovertemplate="layer %{customdata[0]}, head %{customdata[1]}: click to open<extra></extra>",
        )
    )
    layer_ticks = {"tickmode": "array", "tickvals": [i * cell + (side - 1) / 2 for i in range(layers)],
                   "ticktext": [f"{'L' if across else 'layer '}{_safe(la)}" for la in layer_labels]}
    head_ticks = {"tickmode": "array", "tickvals": [i * cell + (side - 1) / 2 for i in range(heads)],
                  "ticktext": [f"head {_safe(h)}" for h in head_labels]}
    x_ticks, y_ticks = (layer_ticks, head_ticks) if across else (head_ticks, layer_ticks)
    figure.update_layout(
        height=int(min(2400, max(250, 1000 * rows / cols + 80))),  # square thumbnails at ~1000 px wide
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={**x_ticks, "side": "top", "constrain": "domain"},
        yaxis={**y_ticks, "autorange": "reversed", "scaleanchor": "x", "constrain": "domain"},
    )
    return figure


def token_attention_html(weights: np.ndarray, labels: tuple[str, ...], query: int, first_position: int = 0) -> str:
    """The text with each token shaded by how much the chosen token attends to it.

    weights: (key,) the chosen query's row; labels: one per position. Returns escaped HTML.
    """
    if weights.shape != (len(labels),):
        raise ValueError(f"weights has shape {weights.shape} but there are {len(labels)} labels.")
    top = float(weights.max()) if weights.size and weights.max() > 0 else 1.0
    spans = []
    for index, (label, weight) in enumerate(zip(labels, weights)):
        alpha = float(weight) / top
        outline = "outline:2px solid crimson;" if index == query else ""
        tip = html.escape(f"#{first_position + index} {label}: {float(weight):.3f}")
        spans.append(
            f'<span title="{tip}" style="background:rgba(30,100,220,{alpha:.3f});{outline}'
            f'color:{"white" if alpha > 0.6 else "inherit"};padding:1px 2px;margin:1px;border-radius:3px;'
            f'display:inline-block;font-family:monospace">{html.escape(label)}</span>'
        )
    return f'<div style="line-height:2;word-break:break-all">{"".join(spans)}</div>'

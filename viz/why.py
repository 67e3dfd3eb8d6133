"""Views of "Why this token?": shaded prompt tokens, per-token bars, layer × head grids, patching maps."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from viz.plotly_text import plotly_text

DIVERGING = "RdBu"  # red = pushes the target down, blue = pushes it up (reversed below for readability)


_safe = plotly_text  # the one escaping helper every figure's tick, hover, legend and title text uses


def _position_ticks(labels: Sequence[str]) -> dict:
    # Integer positions with tokens as tick text, so two identical tokens never merge.
    return {"tickmode": "array", "tickvals": list(range(len(labels))),
            "ticktext": [f"{i}: {_safe(label)}" for i, label in enumerate(labels)]}


def _shade(value: float, scale: float) -> str:
    strength = 0.0 if scale <= 0 else min(1.0, abs(value) / scale)
    colour = "37, 99, 235" if value >= 0 else "220, 38, 38"  # blue: for the target, red: against
    return f"rgba({colour}, {0.08 + 0.72 * strength:.3f})"


def attribution_html(labels: Sequence[str], scores: Sequence[float], what: str) -> str:
    """The prompt as token chips shaded by attribution (blue = raised `what`, red = lowered); escaped."""
    scores = np.asarray(scores, dtype=float)
    scale = float(np.abs(scores).max()) if len(scores) else 0.0
    chips = []
    for index, (label, score) in enumerate(zip(labels, scores)):
        tip = html.escape(f"#{index} {label}: {score:+.4f} on {what}")
        chips.append(
            f'<span title="{tip}" style="background:{_shade(score, scale)};padding:2px 3px;margin:1px;'
            f'border-radius:3px;display:inline-block;font-family:monospace">{html.escape(label)}</span>'
        )
    return f'<div style="line-height:2.1">{"".join(chips)}</div>'


def attribution_bars(labels: Sequence[str], series: dict[str, Sequence[float]], title: str) -> go.Figure:
    """One bar per prompt token for each named series (e.g. integrated gradients, gradient × input)."""
    figure = go.Figure()
    for name, values in series.items():
        figure.add_bar(x=list(range(len(labels))), y=list(values), name=_safe(name),
                       hovertext=[_safe(label) for label in labels],
                       hovertemplate="#%{x} %{hovertext}: %{y:+.4f}<extra>%{fullData.name}</extra>")
    figure.update_layout(title=_safe(title), barmode="group", height=340, margin={"t": 50, "b": 90},
                         yaxis_title="attribution")
    figure.update_xaxes(tickangle=-45, **_position_ticks(labels))
    return figure


def component_bars(attention: Sequence[float], mlp: Sequence[float], embedding: float, title: str) -> go.Figure:
    """Direct contribution of each layer's attention and MLP (and the embedding) to the target's logit."""
    layers = list(range(len(attention)))
    figure = go.Figure()
    figure.add_bar(x=[-1], y=[embedding], name="embedding", marker_color="#888",
                   hovertemplate="embedding: %{y:+.3f}<extra></extra>")
    figure.add_bar(x=layers, y=list(attention), name="attention", marker_color="#2563eb",
                   hovertemplate="layer %{x} attention: %{y:+.3f}<extra></extra>")
    figure.add_bar(x=layers, y=list(mlp), name="MLP", marker_color="#f59e0b",
                   hovertemplate="layer %{x} MLP: %{y:+.3f}<extra></extra>")
    figure.update_layout(title=_safe(title), barmode="group", height=360, yaxis_title="logit contribution")
    figure.update_xaxes(tickmode="array", tickvals=[-1, *layers], ticktext=["emb", *map(str, layers)],
                        title="layer")
    return figure


def head_heatmap(values: np.ndarray, title: str, colorbar: str, diverging: bool = True) -> go.Figure:
    """A layer × head grid (values: (layer, head)); each cell carries (layer, head) for click selection."""
    layers, heads = values.shape
    grid_layer, grid_head = np.meshgrid(np.arange(layers), np.arange(heads), indexing="ij")
    limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    colour = {"colorscale": DIVERGING, "reversescale": True, "zmid": 0.0, "zmin": -limit, "zmax": limit} \
        if diverging else {"colorscale": "Viridis", "zmin": 0.0}
    figure = go.Figure(go.Heatmap(
        z=values, x=list(range(heads)), y=list(range(layers)), customdata=np.dstack([grid_layer, grid_head]),
        colorbar={"title": {"text": _safe(colorbar)}},
        hovertemplate="layer %{y}, head %{x}: %{z:+.4f}<extra></extra>", **colour,
    ))
    figure.update_layout(title=_safe(title), height=max(320, 18 * layers + 120), margin={"t": 50})
    figure.update_xaxes(title="head", dtick=1)
    figure.update_yaxes(title="layer", autorange="reversed", dtick=1 if layers <= 12 else 2)
    return figure


def patching_heatmap(restored: np.ndarray, labels: Sequence[str], title: str) -> go.Figure:
    """Restored share per (layer, position) (restored: (layer, pos)); 1 = the clean answer came back."""
    layers = restored.shape[0]
    figure = go.Figure(go.Heatmap(
        z=restored, x=list(range(len(labels))), y=list(range(layers)), colorscale="Purples", zmin=0.0,
        zmax=max(1.0, float(np.nanmax(restored))), colorbar={"title": {"text": "restored"}},
        hovertext=[[_safe(label) for label in labels]] * layers,
        hovertemplate="layer %{y}, #%{x} %{hovertext}: %{z:.2f}<extra></extra>",
    ))
    figure.update_layout(title=_safe(title), height=max(320, 16 * layers + 160), margin={"t": 50, "b": 100})
    figure.update_xaxes(tickangle=-45, **_position_ticks(labels))
    figure.update_yaxes(title="layer (residual stream entering it)", autorange="reversed")
    return figure


def distribution_change(labels: Sequence[str], before: Sequence[float], after: Sequence[float],
                        title: str) -> go.Figure:
    """Probabilities of a few tokens before and after an intervention, side by side."""
    rows = list(range(len(labels)))
    figure = go.Figure()
    figure.add_bar(y=rows, x=list(before), orientation="h", name="before", marker_color="#94a3b8",
                   hovertemplate="%{x:.3f}<extra>before</extra>")
    figure.add_bar(y=rows, x=list(after), orientation="h", name="after", marker_color="#dc2626",
                   hovertemplate="%{x:.3f}<extra>after</extra>")
    figure.update_layout(title=_safe(title), barmode="group", height=60 + 34 * len(labels), xaxis_title="probability")
    figure.update_yaxes(tickmode="array", tickvals=rows, ticktext=[_safe(label) for label in labels],
                        autorange="reversed")
    return figure

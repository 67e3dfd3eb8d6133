"""Views of next-token prediction: candidate bars, filtered distributions, logit lens, coloured completions."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.plotly_text import plotly_text_array, plotly_texts

KEPT_COLOUR = "#1f77b4"
REMOVED_COLOUR = "#c7c7c7"


def candidates_bar(table: pd.DataFrame) -> go.Figure:
    """Horizontal bars of the top candidates' probabilities; rank 1 on top (table from top_candidates)."""
    rows = np.arange(len(table))
    tokens = plotly_texts(table["token"])
    figure = go.Figure(
        go.Bar(
            x=table["probability"], y=rows, orientation="h", marker_color=KEPT_COLOUR,
            text=[f"{p:.1%}" for p in table["probability"]], textposition="outside", cliponaxis=False,
            customdata=np.stack([np.asarray(tokens, dtype=object), table["logprob"]], axis=-1),
            hovertemplate="%{customdata[0]}<br>p = %{x:.4f}<br>log p = %{customdata[1]:.3f}<extra></extra>",
        )
    )
    figure.update_yaxes(tickmode="array", tickvals=rows, ticktext=tokens, autorange="reversed")
    figure.update_xaxes(title="probability", tickformat=".0%", range=[0, min(1.0, table["probability"].max() * 1.25)])
    figure.update_layout(
        height=80 + 26 * len(table), margin=dict(l=10, r=10, t=30, b=40), title="Next-token candidates"
    )
    return figure


def filter_bars(table: pd.DataFrame, n_kept: int, vocab_size: int) -> go.Figure:
    """Before and after the sampling filters side by side; removed tokens grey (table from distribution_table)."""
    rows = np.arange(len(table))
    kept = table["kept"].to_numpy(dtype=bool)
    colours = np.where(kept, KEPT_COLOUR, REMOVED_COLOUR)
    figure = make_subplots(
        rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
        subplot_titles=("Before: the model's distribution (T = 1)", f"After: {n_kept:,} of {vocab_size:,} tokens kept"),
    )
    labels = np.asarray(plotly_texts(table["token"]), dtype=object)
    status = np.where(kept, "kept", "removed")
    for col, column in ((1, "before"), (2, "after")):
        values = table[column].to_numpy(dtype=float)
        figure.add_trace(
            go.Bar(
                x=values, y=rows, orientation="h", marker_color=colours, showlegend=False,
                marker_pattern_shape=np.where(kept, "", "x").tolist(),
                text=[f"{v:.1%}" if k or col == 1 else "removed" for v, k in zip(values, kept)],
                textposition="outside", cliponaxis=False, customdata=np.stack([labels, status], axis=-1),
                hovertemplate="%{customdata[0]} (%{customdata[1]})<br>p = %{x:.4f}<extra></extra>",
            ),
            row=1, col=col,
        )
    top = max(float(table["before"].max()), float(table["after"].max()), 1e-9)
    figure.update_xaxes(tickformat=".0%", range=[0, min(1.15, top * 1.3)])
    figure.update_yaxes(tickmode="array", tickvals=rows, ticktext=list(labels), autorange="reversed", row=1, col=1)
    figure.update_layout(height=100 + 24 * len(table), margin=dict(l=10, r=10, t=50, b=30))
    return figure


def lens_heatmap(
    final_probs: np.ndarray, top_labels: Sequence[Sequence[str]], labels: Sequence[str], positions: np.ndarray
) -> go.Figure:
    """Probability of the final prediction per layer (y) and position (x); each cell shows its top token.

    final_probs: (layer+1, pos), row 0 the embedding output; labels: (pos,) input tokens.
    """
    n_rows, n_pos = final_probs.shape
    columns = np.arange(n_pos)
    text = plotly_text_array([list(row) for row in top_labels])
    figure = go.Figure(
        go.Heatmap(
            z=final_probs, x=columns, y=np.arange(n_rows), text=text, texttemplate="%{text}",
            textfont={"size": 10}, colorscale="Blues", zmin=0, zmax=1,
            colorbar={"title": "p(final)"},
            customdata=np.broadcast_to(plotly_text_array(labels), (n_rows, n_pos)),
            hovertemplate="layer %{y} · after %{customdata}<br>top: %{text}<br>p(final) = %{z:.3f}<extra></extra>",
        )
    )
    ticktext = plotly_texts(f"{p}: {label}" for p, label in zip(positions, labels))
    figure.update_xaxes(tickmode="array", tickvals=columns, ticktext=ticktext, tickangle=-45, title="input position")
    layer_names = ["embed", *(str(i) for i in range(1, n_rows))]
    figure.update_yaxes(tickmode="array", tickvals=np.arange(n_rows), ticktext=layer_names, title="layer")
    figure.update_layout(
        height=max(320, 60 + 22 * n_rows), margin=dict(l=10, r=10, t=40, b=10),
        title="Logit lens: the final prediction's probability at each layer",
    )
    return figure


def completion_html(prompt: str, token_texts: Sequence[str], probs: Sequence[float]) -> str:
    """Prompt in grey, then each new token tinted by its probability (darker = surer); all text escaped."""
    spans = [f'<span style="color:#777">{html.escape(prompt)}</span>']
    for text, prob in zip(token_texts, probs):
        alpha = 0.15 + 0.6 * float(np.clip(prob, 0.0, 1.0))
        spans.append(
            f'<span title="p = {float(prob):.3f}" style="background:rgba(31,119,180,{alpha:.2f});'
            f'border-radius:3px">{html.escape(text)}</span>'
        )
    return f'<div style="white-space:pre-wrap;line-height:1.8;font-family:monospace">{"".join(spans)}</div>'

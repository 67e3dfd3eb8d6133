"""Views of prompt strategies: completions coloured by probability, accuracy per strategy and against k."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from viz.plotly_text import plotly_text, plotly_texts

SERIES_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")


def _probability_colour(probability: float) -> str:
    """Red for unlikely tokens through yellow to green for near-certain ones (readable on a projector)."""
    hue = int(round(120 * min(max(probability, 0.0), 1.0)))
    return f"hsl({hue}, 75%, 80%)"


def completion_tokens_html(token_labels: Sequence[str], logprobs: np.ndarray) -> str:
    """Each generated token as a chip coloured by its probability; hover shows the exact value.

    token_labels: (new,) tokens labelled with visible whitespace (Completion.token_labels);
    logprobs: (new,) log-probability of each under the model.
    """
    if len(token_labels) == 0:
        return '<div class="llm-lens-chips"><em>(no tokens generated)</em></div>'
    chips = []
    for token, logprob in zip(token_labels, np.asarray(logprobs, dtype=float)):
        probability = float(np.exp(logprob))
        label = html.escape(token or "∅", quote=True)
        title = html.escape(f"{token!r}: p = {probability:.3f}", quote=True)
        chips.append(
            f'<span title="{title}" style="background:{_probability_colour(probability)};color:#111;'
            f'padding:1px 4px;margin:1px;border-radius:4px;font-family:monospace;white-space:pre-wrap;'
            f'display:inline-block">{label}<sub style="opacity:.7"> {probability:.0%}</sub></span>'
        )
    return f'<div class="llm-lens-chips" style="line-height:1.9">{"".join(chips)}</div>'


def accuracy_vs_k(curves: Mapping[str, pd.DataFrame]) -> go.Figure:
    """Mean accuracy against the number of shots; error bars span the worst to best example order.

    curves: name -> frame with columns k, mean, std, min, max, runs (one row per k).
    """
    figure = go.Figure()
    for (name, curve), colour in zip(curves.items(), SERIES_COLOURS):
        mean = curve["mean"].to_numpy(dtype=float)
        figure.add_trace(
            go.Scatter(
                x=curve["k"], y=mean, name=plotly_text(name), mode="lines+markers", line_color=colour,
                error_y=dict(type="data", symmetric=False, array=curve["max"] - mean, arrayminus=mean - curve["min"]),
                customdata=np.stack([curve["std"], curve["min"], curve["max"], curve["runs"]], axis=-1),
                hovertemplate=(
                    "k = %{x}<br>mean accuracy %{y:.0%}<br>range %{customdata[1]:.0%}–%{customdata[2]:.0%}"
                    "<br>std %{customdata[0]:.2f} over %{customdata[3]} orders<extra>%{fullData.name}</extra>"
                ),
            )
        )
    ks = sorted({int(k) for curve in curves.values() for k in curve["k"]})
    figure.update_xaxes(title="shots in the prompt (k)", tickmode="array", tickvals=ks)
    figure.update_yaxes(title="accuracy (bars: worst to best order)", tickformat=".0%", range=[-0.02, 1.05])
    figure.update_layout(
        title="Accuracy against shots (k)",
        height=380, margin=dict(l=10, r=10, t=50, b=40), legend=dict(orientation="h", y=-0.2),
    )
    return figure


def accuracy_bars(runs: Mapping[str, pd.DataFrame]) -> go.Figure:
    """Accuracy of each strategy as bars, one colour per run (this run, a loaded experiment…).

    runs: name -> frame with columns strategy, correct, scored, accuracy (one row per strategy).
    """
    figure = go.Figure()
    for (name, table), colour in zip(runs.items(), SERIES_COLOURS):
        figure.add_trace(
            go.Bar(
                x=plotly_texts(table["strategy"]), y=table["accuracy"], name=plotly_text(name), marker_color=colour,
                text=[f"{a:.0%} ({c}/{n})" for a, c, n in zip(table["accuracy"], table["correct"], table["scored"])],
                textposition="outside", hovertemplate="%{x}: %{y:.1%}<extra>%{fullData.name}</extra>",
            )
        )
    figure.update_yaxes(title="accuracy", tickformat=".0%", range=[0, 1.15])
    figure.update_layout(
        title="Accuracy per strategy", barmode="group", height=360, margin=dict(l=10, r=10, t=50, b=40),
        showlegend=len(runs) > 1,
    )
    return figure

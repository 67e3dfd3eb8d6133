"""Views of adapting a model: the training loss, what each way bought, the α sweep, where LoRA changed weights."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.plotly_text import plotly_texts


def loss_chart(train_loss: Sequence[float], heldout: Sequence[tuple[int, float]], steps_per_epoch: int,
               total_steps: int) -> go.Figure:
    """Training loss per step and held-out loss after each epoch (on the same step axis)."""
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=list(range(1, len(train_loss) + 1)), y=list(train_loss), name="training loss (batch)",
                                mode="lines+markers", marker_size=4,
                                hovertemplate="step %{x}<br>loss %{y:.3f}<extra></extra>"))
    if heldout:
        figure.add_trace(go.Scatter(x=[epoch * steps_per_epoch for epoch, _ in heldout], y=[v for _, v in heldout],
                                    name="held-out loss (after each epoch)", mode="lines+markers", marker_size=9,
                                    hovertemplate="after epoch at step %{x}<br>loss %{y:.3f}<extra></extra>"))
    figure.update_layout(title="Loss on the label tokens", xaxis_title="optimisation step",
                         yaxis_title="cross-entropy (nats per label token)", height=340,
                         xaxis_range=[0, max(total_steps, 1) + 0.5], margin=dict(t=50, b=40))
    return figure


def ways_chart(table: pd.DataFrame, title: str = "Held-out set, rank the labels") -> go.Figure:
    """Accuracy and mean gold-label probability of each way of adapting (rows of core.adapt.compare)."""
    names = plotly_texts(list(table["way"]))
    figure = go.Figure([
        go.Bar(x=names, y=table["accuracy"], name="accuracy", texttemplate="%{y:.0%}",
               hovertemplate="%{x}<br>accuracy %{y:.0%}<extra></extra>"),
        go.Bar(x=names, y=table["mean_gold_probability"], name="mean P(gold label)", texttemplate="%{y:.2f}",
               hovertemplate="%{x}<br>mean P(gold) %{y:.3f}<extra></extra>"),
    ])
    figure.update_layout(title=title, barmode="group", yaxis_range=[0, 1.05], yaxis_tickformat=".0%", height=360,
                         margin=dict(t=50, b=40))
    return figure


def sweep_chart(sweep: pd.DataFrame) -> go.Figure:
    """P(positive) read by the steered model and of its text, and the text's fluency, against α."""
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_trace(go.Scatter(x=sweep["alpha"], y=sweep["p_positive"], name="P(positive), steered model",
                                mode="lines+markers", customdata=plotly_texts(list(sweep["sample"])),
                                hovertemplate="α = %{x}<br>P(positive) %{y:.2f}<br>%{customdata}<extra></extra>"),
                     secondary_y=False)
    figure.add_trace(go.Scatter(x=sweep["alpha"], y=sweep["text_positive"], name="P(positive) of its text, read plain",
                                mode="lines+markers", hovertemplate="α = %{x}<br>%{y:.2f}<extra></extra>"),
                     secondary_y=False)
    figure.add_trace(go.Scatter(x=sweep["alpha"], y=sweep["fluency"], name="fluency (mean log-prob per token)",
                                mode="lines+markers", line_dash="dot",
                                hovertemplate="α = %{x}<br>%{y:.2f} nats per token<extra></extra>"), secondary_y=True)
    figure.update_yaxes(title_text="P(positive)", range=[0, 1], secondary_y=False)
    figure.update_yaxes(title_text="log-prob per token (plain model)", secondary_y=True)
    figure.update_layout(title="What the strength α does", xaxis_title="α", height=360, margin=dict(t=50, b=40))
    return figure


def delta_heatmap(norms: pd.DataFrame) -> go.Figure:
    """‖ΔW‖ / ‖W‖ of every adapted matrix: layers down, matrices across."""
    grid = norms.pivot(index="layer", columns="matrix", values="relative").sort_index()
    figure = go.Figure(go.Heatmap(z=grid.to_numpy(), x=plotly_texts(list(grid.columns)), y=list(grid.index),
                                  colorscale="Viridis", colorbar_title="‖ΔW‖/‖W‖",
                                  hovertemplate="layer %{y}, %{x}<br>‖ΔW‖/‖W‖ = %{z:.2e}<extra></extra>"))
    figure.update_layout(title="Where LoRA changed the weights", yaxis_title="layer", yaxis_autorange="reversed",
                         height=max(300, 16 * len(grid) + 120), margin=dict(t=50, b=40))
    return figure



def lens_chart(lens: pd.DataFrame, label: str) -> go.Figure:
    """P(label) read at each layer (logit lens) before and after fine-tuning."""
    figure = go.Figure([go.Scatter(x=plotly_texts(list(lens["layer"])), y=lens[column], name=name, mode="lines+markers",
                                   hovertemplate="layer %{x}<br>P = %{y:.3f}<extra>" + name + "</extra>")
                        for column, name in (("before", "base model"), ("after", "fine-tuned"))])
    figure.update_layout(title=f"Logit lens: P({plotly_texts([label])[0]}) layer by layer", xaxis_title="layer",
                         yaxis_title="probability", yaxis_range=[0, 1.02], height=340, margin=dict(t=50, b=40))
    return figure


def attention_difference(difference: np.ndarray, labels: Sequence[str], title: str) -> go.Figure:
    """after − before attention of one head: rows queries, columns keys (red: more attention after fine-tuning).

    difference: (query, key); positions on the axes, tokens as tick text (repeated tokens stay apart).
    """
    positions = list(range(len(labels)))
    bound = float(max(np.abs(difference).max(), 1e-6))
    figure = go.Figure(go.Heatmap(z=difference, x=positions, y=positions, colorscale="RdBu_r", zmin=-bound, zmax=bound,
                                  colorbar_title="after − before",
                                  hovertemplate="query #%{y} → key #%{x}: %{z:+.3f}<extra></extra>"))
    ticks = {"tickmode": "array", "tickvals": positions, "ticktext": plotly_texts(labels)}
    side = min(900, max(380, 14 * len(labels) + 160))
    figure.update_layout(title=plotly_texts([title])[0], height=side, margin=dict(t=50, b=10),
                         xaxis={"title": "key (attended to)", **ticks},
                         yaxis={"title": "query (attending)", **ticks, "autorange": "reversed"})
    return figure

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
    """Mean accuracy against the number of shots; error bars are the 95% Wilson interval of each k.

    curves: name -> frame with columns k, mean, std, min, max, runs (one row per k), and ci_low,
    ci_high (the table-order run's interval). A curve saved without ci_* shows the order range instead.
    """
    figure = go.Figure()
    for (name, curve), colour in zip(curves.items(), SERIES_COLOURS):
        mean = curve["mean"].to_numpy(dtype=float)
        has_ci = {"ci_low", "ci_high"} <= set(curve.columns)
        low = curve["ci_low"].to_numpy(float) if has_ci else curve["min"].to_numpy(float)
        high = curve["ci_high"].to_numpy(float) if has_ci else curve["max"].to_numpy(float)
        figure.add_trace(
            go.Scatter(
                x=curve["k"], y=mean, name=plotly_text(name), mode="lines+markers", line_color=colour,
                error_y=dict(type="data", symmetric=False, array=np.maximum(high - mean, 0),
                             arrayminus=np.maximum(mean - low, 0)),
                customdata=np.stack([curve["std"], curve["min"], curve["max"], curve["runs"], low, high], axis=-1),
                hovertemplate=(
                    "k = %{x}<br>mean accuracy %{y:.0%}<br>"
                    + ("95% CI %{customdata[4]:.0%}–%{customdata[5]:.0%}<br>" if has_ci else "")
                    + "orders: %{customdata[1]:.0%}–%{customdata[2]:.0%}"
                    "<br>std %{customdata[0]:.2f} over %{customdata[3]} orders<extra>%{fullData.name}</extra>"
                ),
            )
        )
    ks = sorted({int(k) for curve in curves.values() for k in curve["k"]})
    figure.update_xaxes(title="shots in the prompt (k)", tickmode="array", tickvals=ks)
    figure.update_yaxes(title="accuracy (bars: 95% interval)", tickformat=".0%", range=[-0.02, 1.05])
    figure.update_layout(
        title="Accuracy against shots (k)",
        height=380, margin=dict(l=10, r=10, t=50, b=40), legend=dict(orientation="h", y=-0.2),
    )
    return figure


def accuracy_bars(runs: Mapping[str, pd.DataFrame]) -> go.Figure:
    """Accuracy of each strategy as bars, one colour per run (this run, a loaded experiment…).

    runs: name -> frame with columns strategy, correct, scored, accuracy (one row per strategy), and
    accuracy_low, accuracy_high (95% Wilson interval) drawn as error bars when present.
    """
    figure = go.Figure()
    for (name, table), colour in zip(runs.items(), SERIES_COLOURS):
        accuracy = table["accuracy"].to_numpy(float)
        error = None
        if {"accuracy_low", "accuracy_high"} <= set(table.columns):
            error = dict(type="data", symmetric=False, array=np.maximum(table["accuracy_high"] - accuracy, 0),
                         arrayminus=np.maximum(accuracy - table["accuracy_low"], 0))
        figure.add_trace(
            go.Bar(
                x=plotly_texts(table["strategy"]), y=table["accuracy"], name=plotly_text(name), marker_color=colour,
                error_y=error,
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


# --- Evaluation views: label probabilities, confusion, bias, reliability, which shot helped ------


_safe = plotly_text  # quote=True would show a typed " as &quot;: plotly does not decode that entity


def label_probabilities_html(labels: Sequence[str], probabilities: Sequence[float]) -> str:
    """One bar per label, longest first, with its probability ("positive 0.82 · negative 0.18" as bars)."""
    pairs = sorted(zip(labels, np.asarray(probabilities, dtype=float)), key=lambda pair: -pair[1])
    rows = [
        f'<div style="display:flex;align-items:center;gap:6px;font-family:monospace">'
        f'<span style="min-width:7em;white-space:pre-wrap">{html.escape(str(label))}</span>'
        f'<span style="display:inline-block;height:0.9em;width:{100 * p:.1f}%;max-width:60%;'
        f'background:{_probability_colour(p)};border:1px solid #888"></span>{p:.2f}</div>'
        for label, p in pairs
    ]
    text = html.escape(" · ".join(f"{label} {p:.2f}" for label, p in pairs))
    return f'<div class="llm-lens-label-probs" title="{text}">{"".join(rows)}</div>'


def confusion_heatmap(table: pd.DataFrame, title: str) -> go.Figure:
    """Counts of (true label, predicted label); the diagonal is right. table: rows true, columns predicted."""
    rows, columns = [str(r) for r in table.index], [str(c) for c in table.columns]
    values = table.to_numpy(dtype=float)
    figure = go.Figure(go.Heatmap(
        z=values, x=list(range(len(columns))), y=list(range(len(rows))), colorscale="Blues", showscale=False,
        text=values.astype(int), texttemplate="%{text}",
        customdata=[[(_safe(r), _safe(c)) for c in columns] for r in rows],
        hovertemplate="true %{customdata[0]}, predicted %{customdata[1]}: %{z}<extra></extra>",
    ))
    figure.update_xaxes(title="predicted", tickmode="array", tickvals=list(range(len(columns))),
                        ticktext=[_safe(c) for c in columns], side="bottom")
    figure.update_yaxes(title="true label", tickmode="array", tickvals=list(range(len(rows))),
                        ticktext=[_safe(r) for r in rows], autorange="reversed")
    figure.update_layout(title=_safe(title), height=320, margin=dict(l=10, r=10, t=50, b=40))
    return figure


def label_bias_bars(table: pd.DataFrame) -> go.Figure:
    """How often each label is predicted against how often it is true. table: label, predicted, true."""
    labels = [_safe(label) for label in table["label"]]
    figure = go.Figure([
        go.Bar(x=labels, y=table["predicted"], name="predicted", marker_color=SERIES_COLOURS[1],
               hovertemplate="%{x}: predicted for %{y:.0%} of items<extra></extra>"),
        go.Bar(x=labels, y=table["true"], name="true", marker_color=SERIES_COLOURS[0],
               hovertemplate="%{x}: true for %{y:.0%} of items<extra></extra>"),
    ])
    figure.update_yaxes(title="share of items", tickformat=".0%", range=[0, 1.05])
    figure.update_layout(title="Label bias: predicted vs true", barmode="group", height=320,
                         margin=dict(l=10, r=10, t=50, b=40), legend=dict(orientation="h", y=-0.25))
    return figure


def reliability_diagram(table: pd.DataFrame, ece: float) -> go.Figure:
    """Accuracy per confidence bin against the diagonal of perfect calibration.

    table: low, high, count, confidence, accuracy (one row per bin; empty bins have NaN).
    """
    filled = table[table["count"] > 0]
    centres = (filled["low"] + filled["high"]) / 2
    figure = go.Figure([
        go.Bar(x=centres, y=filled["accuracy"], width=filled["high"] - filled["low"], name="accuracy",
               marker_color=SERIES_COLOURS[0], customdata=np.stack([filled["count"], filled["confidence"]], axis=-1),
               hovertemplate=("confidence %{x:.2f}: %{y:.0%} right of %{customdata[0]} "
                              "(mean confidence %{customdata[1]:.2f})<extra></extra>")),
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                   line=dict(dash="dash", color="#888")),
    ])
    figure.update_xaxes(title="confidence (probability of the predicted label)", range=[0, 1])
    figure.update_yaxes(title="accuracy", tickformat=".0%", range=[0, 1.05])
    figure.update_layout(title=f"Reliability diagram (ECE {ece:.3f})", height=340,
                         margin=dict(l=10, r=10, t=50, b=40), legend=dict(orientation="h", y=-0.25))
    return figure


def shot_influence_bars(table: pd.DataFrame) -> go.Figure:
    """Per shot: change in mean gold-label log-prob and in accuracy when the shot is in the prompt.

    table: shot, text, label, delta_logprob, delta_accuracy. Positive = the shot helped.
    """
    from plotly.subplots import make_subplots

    names = [f"shot {n}" for n in table["shot"]]
    hover = [_safe(f"{text} → {label}") for text, label in zip(table["text"], table["label"])]
    figure = make_subplots(rows=1, cols=2, subplot_titles=("Δ mean log P(gold label)", "Δ accuracy"))
    for col, column, fmt in ((1, "delta_logprob", "%{y:+.3f}"), (2, "delta_accuracy", "%{y:+.0%}")):
        values = table[column].to_numpy(dtype=float)
        figure.add_trace(go.Bar(
            x=names, y=values, customdata=hover, showlegend=False,
            marker_color=[SERIES_COLOURS[2] if v >= 0 else "#d62728" for v in values],
            hovertemplate=f"%{{x}}: {fmt}<br>%{{customdata}}<extra></extra>"), row=1, col=col)
    figure.update_yaxes(tickformat="+.0%", row=1, col=2)
    figure.update_layout(title="Which shot helped (with the shot − without it)", height=340,
                         margin=dict(l=10, r=10, t=70, b=40))
    return figure

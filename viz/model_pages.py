"""Charts for the RNN-vs-Transformer, model-size and lifecycle pages: data in, plotly Figure out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from viz.plotly_text import plotly_text, plotly_texts

MAX_TICK_LABELS = 40  # beyond this, token labels overlap; the hover still names every token
COLORS = {"RNN (tanh)": "#d62728", "GRU": "#ff7f0e", "Self-attention": "#1f77b4"}


def gradient_decay_chart(labels: Sequence[str], gradients: Mapping[str, np.ndarray]) -> go.Figure:
    """Line per network: gradient reaching token i relative to the last token's, vs distance, log y.

    labels: (pos,) token labels; gradients: name -> (pos,) gradient norms.
    """
    n = len(labels)
    # Plotly reads tags such as <b> or <br> in text as markup: escape tokens so they show literally.
    labels = plotly_texts(labels)
    distance = np.arange(n - 1, -1, -1)  # (pos,) tokens between token i and the last one
    figure = go.Figure()
    for name, gradient in gradients.items():
        gradient = np.asarray(gradient, dtype=np.float64)
        relative = gradient / gradient[-1]
        # A gradient that underflowed to 0 cannot sit on a log axis: leave a gap instead.
        relative = np.where(relative > 0, relative, np.nan)
        figure.add_trace(
            go.Scatter(
                x=distance, y=relative, mode="lines+markers", name=plotly_text(name),
                line={"color": COLORS.get(name)}, customdata=np.asarray(labels, dtype=object),
                hovertemplate="token %{customdata}<br>distance %{x}<br>relative gradient %{y:.3g}<extra>"
                "%{fullData.name}</extra>",
            )
        )
    ticks = {"tickvals": distance.tolist(), "ticktext": list(labels)} if n <= MAX_TICK_LABELS else {}
    figure.update_xaxes(title="distance from the last token (tokens); label = the token there",
                        autorange="reversed", **ticks)
    figure.update_yaxes(type="log", title="‖∂ out / ∂ xᵢ‖ ÷ ‖∂ out / ∂ x_last‖ (log)", exponentformat="power")
    figure.update_layout(height=440, margin={"t": 30}, legend={"orientation": "h", "y": 1.08})
    return figure


def parameter_breakdown_chart(components: pd.DataFrame) -> go.Figure:
    """Horizontal bars of parameters per component (columns: component, parameters, share)."""
    figure = go.Figure(
        go.Bar(
            x=components["parameters"], y=plotly_texts(components["component"]), orientation="h",
            text=[f"{p:,} ({s:.1%})" for p, s in zip(components["parameters"], components["share"])],
            textposition="auto", marker_color="#1f77b4",
            hovertemplate="%{y}: %{x:,} parameters<extra></extra>",
        )
    )
    figure.update_yaxes(autorange="reversed")
    figure.update_xaxes(title="parameters")
    figure.update_layout(height=60 + 45 * len(components), margin={"t": 20})
    return figure


def memory_chart(rows: pd.DataFrame, title: str = "") -> go.Figure:
    """Stacked bars of memory in GB (columns: setting, part, bytes): one bar per setting, one colour per part."""
    figure = go.Figure()
    settings = list(dict.fromkeys(rows["setting"]))
    for part in dict.fromkeys(rows["part"]):
        subset = rows[rows["part"] == part].set_index("setting").reindex(settings)
        gigabytes = subset["bytes"].fillna(0) / 1e9
        figure.add_trace(
            go.Bar(x=plotly_texts(settings), y=gigabytes, name=plotly_text(part),
                   hovertemplate="%{x}: %{y:,.3f} GB<extra>%{fullData.name}</extra>")
        )
    figure.update_layout(barmode="stack", height=380, title=plotly_text(title), margin={"t": 40},
                         legend={"orientation": "h", "y": -0.2})
    figure.update_yaxes(title="GB (10⁹ bytes)")
    return figure


def lora_chart(ranks: Sequence[int], lora_params: Sequence[int], full_params: int) -> go.Figure:
    """Trainable parameters of LoRA at each rank vs full fine-tuning (dashed line), log y."""
    figure = go.Figure(
        go.Scatter(x=list(ranks), y=list(lora_params), mode="lines+markers", name="LoRA",
                   hovertemplate="rank %{x}: %{y:,} trainable<extra></extra>")
    )
    # A trace, not add_hline: hline annotations land in the wrong place on a log axis.
    figure.add_trace(
        go.Scatter(x=list(ranks), y=[full_params] * len(ranks), mode="lines", name=f"full fine-tuning: {full_params:,}",
                   line={"dash": "dash", "color": "#d62728"}, hovertemplate="full fine-tuning: %{y:,}<extra></extra>")
    )
    figure.update_xaxes(title="LoRA rank r", type="log", tickvals=list(ranks), ticktext=[str(r) for r in ranks])
    # Log axes take their range in powers of ten; leave room above the full fine-tuning line for its label.
    low = np.log10(max(min(min(lora_params), full_params), 1))
    figure.update_yaxes(title="trainable parameters (log)", type="log", range=[low - 0.3, np.log10(full_params) + 0.4])
    figure.update_layout(height=360, margin={"t": 20}, legend={"orientation": "h", "y": 1.12})
    return figure

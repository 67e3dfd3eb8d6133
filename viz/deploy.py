"""Charts of the Deploy page: measured timings, cache sizes, batching, formats and capacity, data in, Figure out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.plotly_text import plotly_texts

CACHED, UNCACHED = "#1f77b4", "#d62728"
_STEP_HOVER = "sequence of %{x} tokens<br>%{y:.1f} ms<extra>%{fullData.name}</extra>"


def decode_steps_chart(cached_seconds: np.ndarray, uncached_seconds: np.ndarray, prompt_tokens: int) -> go.Figure:
    """Milliseconds per new token against its position, with and without the KV cache.

    cached_seconds, uncached_seconds: (new,) median seconds of each new token (the first includes the prefill).
    """
    positions = prompt_tokens + np.arange(len(cached_seconds))  # (new,) tokens the model reads before choosing
    figure = go.Figure()
    for name, seconds, color in (("with the KV cache", cached_seconds, CACHED),
                                 ("without a cache", uncached_seconds, UNCACHED)):
        figure.add_trace(go.Scatter(x=positions, y=np.asarray(seconds) * 1e3, mode="lines+markers", name=name,
                                    line={"color": color}, hovertemplate=_STEP_HOVER))
    figure.update_xaxes(title="tokens already in the sequence (prompt + new so far)")
    figure.update_yaxes(title="time for the next token (ms, median)", rangemode="tozero")
    figure.update_layout(height=400, margin={"t": 30}, legend={"orientation": "h", "y": 1.1})
    return figure


def cache_growth_chart(growth: pd.DataFrame) -> go.Figure:
    """KV cache of one sequence against its length: grouped-query vs full multi-head attention (MB).

    growth: columns tokens, gqa_bytes, mha_bytes.
    """
    figure = go.Figure()
    for column, name, color in (("gqa_bytes", "grouped-query (this model)", CACHED),
                                ("mha_bytes", "full multi-head attention", UNCACHED)):
        figure.add_trace(go.Scatter(x=growth["tokens"], y=growth[column] / 1e6, mode="lines", name=name,
                                    line={"color": color},
                                    hovertemplate="%{x:,} tokens: %{y:,.1f} MB<extra>%{fullData.name}</extra>"))
    figure.update_xaxes(title="tokens in the sequence (up to the context window)")
    figure.update_yaxes(title="KV cache (MB)", rangemode="tozero")
    figure.update_layout(height=380, margin={"t": 30}, legend={"orientation": "h", "y": 1.1})
    return figure


def prefill_decode_chart(measured: Sequence[float], bounds: Sequence[float]) -> go.Figure:
    """Tokens per second of prefill and decode, measured beside the limit each would reach (log axis).

    measured, bounds: (prefill, decode) tokens per second.
    """
    phases = ["prefill (whole prompt, one pass)", "decode (one token per pass)"]
    figure = go.Figure([
        go.Bar(x=phases, y=list(measured), name="measured", marker_color=CACHED,
               text=[f"{v:,.0f}" for v in measured], textposition="outside"),
        go.Bar(x=phases, y=list(bounds), name="bound: FLOP rate (prefill), weight bandwidth (decode)",
               marker_color="#7f7f7f", text=[f"{v:,.0f}" for v in bounds], textposition="outside"),
    ])
    figure.update_yaxes(type="log", title="tokens per second (log)")
    figure.update_layout(barmode="group", height=400, margin={"t": 30}, legend={"orientation": "h", "y": 1.12})
    return figure


def batch_chart(table: pd.DataFrame) -> go.Figure:
    """Throughput of all requests and each request's latency against batch size (columns batch, …)."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=("new tokens per second, all requests",
                                                            "latency of each request (s)"))
    figure.add_trace(go.Scatter(x=table["batch"], y=table["tokens_per_second"], mode="lines+markers",
                                name="throughput", line={"color": CACHED}), row=1, col=1)
    figure.add_trace(go.Scatter(x=table["batch"], y=table["latency_seconds"], mode="lines+markers",
                                name="latency", line={"color": UNCACHED}), row=1, col=2)
    figure.update_xaxes(title="batch size (requests decoded together)", type="log", tickvals=table["batch"].tolist())
    figure.update_yaxes(rangemode="tozero")
    figure.update_layout(height=380, margin={"t": 40}, showlegend=False)
    return figure


def prefix_chart(cold_seconds: float, warm_seconds: float, prefix_tokens: int) -> go.Figure:
    """Time to first token with the whole prompt computed vs the shared prefix's cache reused (ms)."""
    labels = [f"computed: {prefix_tokens:,}-token system prompt + question", "system prompt's cache reused"]
    values = [cold_seconds * 1e3, warm_seconds * 1e3]
    figure = go.Figure(go.Bar(x=values, y=labels, orientation="h", marker_color=[UNCACHED, CACHED],
                              text=[f"{v:,.1f} ms" for v in values], textposition="auto"))
    figure.update_xaxes(title="time to first token (ms, median)", rangemode="tozero")
    figure.update_yaxes(autorange="reversed")
    figure.update_layout(height=220, margin={"t": 20})
    return figure


def formats_chart(table: pd.DataFrame) -> go.Figure:
    """Size, decode speed and perplexity of each weight format, side by side (columns as quant_quality.COLUMNS)."""
    names = plotly_texts(table["format"])
    panels = (("megabytes", "size (MB)"), ("decode_tokens_per_second", "decode tokens/s"),
              ("perplexity", "perplexity (lower is better)"))
    figure = make_subplots(rows=1, cols=3, subplot_titles=[title for _, title in panels])
    for col, (column, _) in enumerate(panels, start=1):
        figure.add_trace(go.Bar(x=names, y=table[column], marker_color=[CACHED, UNCACHED, "#2ca02c"][: len(table)],
                                text=[f"{v:,.3g}" for v in table[column]], textposition="auto"), row=1, col=col)
    figure.update_layout(height=360, margin={"t": 40}, showlegend=False)
    return figure


def capacity_chart(users: Sequence[int], mean_wait: Sequence[float], memory_bytes: Sequence[float]) -> go.Figure:
    """Expected wait and memory against the number of users (one planned line each)."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=("mean wait for a full answer (s)",
                                                            "memory for weights + caches in flight (GB)"))
    figure.add_trace(go.Scatter(x=list(users), y=list(mean_wait), mode="lines+markers", name="wait",
                                line={"color": UNCACHED}), row=1, col=1)
    figure.add_trace(go.Scatter(x=list(users), y=np.asarray(memory_bytes) / 1e9, mode="lines+markers",
                                name="memory", line={"color": CACHED}), row=1, col=2)
    figure.update_xaxes(title="users asking at once")
    figure.update_yaxes(rangemode="tozero")
    figure.update_layout(height=360, margin={"t": 40}, showlegend=False)
    return figure

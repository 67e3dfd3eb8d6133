"""Streamlit caching of the Attention page: views, heatmaps and bertviz HTML, built once per input."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import core
from core import attention_stats
from ui.caching import cache
from viz import attention as attention_viz
from viz import bertviz_offline

# --- Attention page -------------------------------------------------------------------------


@cache.by_bytes  # up to 283 MB each at 512 tokens
def get_attention_view(model_name: str, text: str, hide_first: bool, combine: str) -> attention_stats.AttentionView:
    """Attention after the page toggles (hide first token, average, rollout); frozen, so shared."""
    return attention_stats.attention_view(cache.get_analysis(model_name, text).attention, hide_first, combine)


# Figures built from cached data, cached too (keyed by the same plain values): a class on one
# prompt builds each figure once, not once per session. st.plotly_chart only reads a figure.
@st.cache_resource(show_spinner=False, max_entries=64)
def get_head_heatmap(model_name: str, text: str, hide_first: bool, combine: str, layer: int, head: int) -> object:
    """The one-head heatmap of the attention page (a plotly figure, read-only once built)."""
    view = get_attention_view(model_name, text, hide_first, combine)
    labels = cache.get_analysis(model_name, text).tokens.labels[view.first_position:]
    title = f"Layer {view.layer_labels[layer]}, head {view.head_labels[head]}"
    return attention_viz.attention_heatmap(view.weights[layer, head], labels, title, view.first_position)


@st.cache_resource(show_spinner=False, max_entries=32)
def get_layer_grid(model_name: str, text: str, hide_first: bool, combine: str, layer: int) -> object:
    """Every head of one layer side by side (a plotly figure)."""
    view = get_attention_view(model_name, text, hide_first, combine)
    labels = cache.get_analysis(model_name, text).tokens.labels[view.first_position:]
    return attention_viz.head_grid(view.weights[layer], labels, view.head_labels, f"Layer {view.layer_labels[layer]}",
                                   view.first_position)


@st.cache_resource(show_spinner=False, max_entries=16)
def get_overview(model_name: str, text: str, hide_first: bool, combine: str) -> object:
    """Every layer × head as thumbnails (a plotly figure)."""
    view = get_attention_view(model_name, text, hide_first, combine)
    return attention_viz.layers_heads_overview(view.weights, view.layer_labels, view.head_labels)


@st.cache_data(show_spinner=False, max_entries=16)
def get_head_summary(model_name: str, text: str, hide_first: bool) -> pd.DataFrame:
    """Per-head entropy, first-token weight, previous-token score, mean distance and induction score."""
    view = get_attention_view(model_name, text, hide_first, "none")
    ids = cache.get_analysis(model_name, text).tokens.ids[view.first_position:]  # the view's positions
    return attention_stats.head_summary(view.weights, ids)


@cache.by_bytes
def get_answered_attention(model_name: str, prompt: str, new_tokens: int) -> attention_stats.AnsweredAttention:
    """A short greedy answer, then one forward pass over prompt plus answer."""
    return attention_stats.analyze_with_answer(cache.get_model(model_name), prompt, new_tokens)


@cache.by_bytes
def get_bertviz_analysis(model_name: str, text: str) -> core.Analysis:
    """Analysis of the start of text that fits bertviz's token cap (the whole text when short)."""
    if len(cache.get_tokens(model_name, text)) <= bertviz_offline.MAX_TOKENS:
        return cache.get_analysis(model_name, text)
    return attention_stats.analyze_prefix(cache.get_model(model_name), text, bertviz_offline.MAX_TOKENS)


@st.cache_resource(show_spinner=False, max_entries=8)
def get_bertviz_html(model_name: str, text: str, view: str, layers: tuple[int, ...]) -> str:
    """bertviz HTML built once per input: each build has a fresh random id, which reloads the frame."""
    analysis = get_bertviz_analysis(model_name, text)
    return bertviz_offline.bertviz_html(view, analysis.attention, analysis.tokens.labels, layers)

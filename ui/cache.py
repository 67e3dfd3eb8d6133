"""The only place where Streamlit caches wrap core/ calls, keyed by plain values."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pandas as pd
import streamlit as st

import core
from core import attention_stats
from core.analysis import MAX_ANALYZE_TOKENS
from viz import bertviz_offline


@st.cache_resource(show_spinner=False, max_entries=3)
def _model_slot(name: str) -> dict:
    # A per-name holder, so loading runs outside the cached function and can drive a progress
    # bar the page owns (cached functions may not update elements created outside them).
    return {"lock": threading.Lock()}


def get_model(name: str, _progress: Callable[[float, str], None] | None = None) -> core.LoadedModel:
    """The loaded model, loaded once per process and shared read-only by every session."""
    slot = _model_slot(name)
    with slot["lock"]:  # two sessions asking at once load the model once
        if "model" not in slot:
            slot["model"] = core.load_model(name, progress=_progress)
    return slot["model"]


@st.cache_resource(show_spinner=False, max_entries=32)
def get_tokens(model_name: str, text: str, add_special_tokens: bool = True) -> core.Tokenization:
    """Tokenization of text (cache_resource: results are frozen, so sharing them is safe)."""
    return core.tokenize(get_model(model_name), text, add_special_tokens=add_special_tokens)


@st.cache_resource(show_spinner=False, max_entries=8)
def get_analysis(model_name: str, text: str, max_tokens: int = MAX_ANALYZE_TOKENS) -> core.Analysis:
    """One forward pass with attention and hidden states; large, so few entries are kept."""
    return core.analyze(get_model(model_name), text, max_tokens=max_tokens)


@st.cache_data(show_spinner=False, max_entries=64)
def get_completions(
    model_name: str, prompts: tuple[str, ...], settings: core.GenerationSettings
) -> list[core.Completion]:
    """Completions for a batch of prompts; greedy and seeded runs are deterministic, so cacheable."""
    return core.generate(get_model(model_name), list(prompts), settings)


# --- Attention page -------------------------------------------------------------------------


@st.cache_resource(show_spinner=False, max_entries=3)
def get_attention_view(model_name: str, text: str, hide_first: bool, combine: str) -> attention_stats.AttentionView:
    """Attention after the page toggles (hide first token, average, rollout); frozen, so shared."""
    return attention_stats.attention_view(get_analysis(model_name, text).attention, hide_first, combine)


@st.cache_data(show_spinner=False, max_entries=16)
def get_head_summary(model_name: str, text: str, hide_first: bool) -> pd.DataFrame:
    """Per-head entropy, first-token weight, previous-token score and mean distance."""
    view = get_attention_view(model_name, text, hide_first, "none")
    return attention_stats.head_summary(view.weights)


@st.cache_resource(show_spinner=False, max_entries=4)
def get_answered_attention(model_name: str, prompt: str, new_tokens: int) -> attention_stats.AnsweredAttention:
    """A short greedy answer, then one forward pass over prompt plus answer."""
    return attention_stats.analyze_with_answer(get_model(model_name), prompt, new_tokens)


@st.cache_resource(show_spinner=False, max_entries=4)
def get_bertviz_analysis(model_name: str, text: str) -> core.Analysis:
    """Analysis of the start of text that fits bertviz's token cap (the whole text when short)."""
    if len(get_tokens(model_name, text)) <= bertviz_offline.MAX_TOKENS:
        return get_analysis(model_name, text)
    return attention_stats.analyze_prefix(get_model(model_name), text, bertviz_offline.MAX_TOKENS)


@st.cache_resource(show_spinner=False, max_entries=8)
def get_bertviz_html(model_name: str, text: str, view: str, layers: tuple[int, ...]) -> str:
    """bertviz HTML built once per input: each build has a fresh random id, which reloads the frame."""
    analysis = get_bertviz_analysis(model_name, text)
    return bertviz_offline.bertviz_html(view, analysis.attention, analysis.tokens.labels, layers)

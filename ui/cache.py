"""The only place where Streamlit caches wrap core/ calls, keyed by plain values."""

from __future__ import annotations

import threading
from collections.abc import Callable

import streamlit as st

import core
from core.analysis import MAX_ANALYZE_TOKENS


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

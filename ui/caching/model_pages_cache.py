"""Streamlit caching of the model pages: RNN vs Transformer, Model size and Lifecycle."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from ui.caching import cache
from ui.caching.single_flight import Flight

# --- Model and lifecycle pages (RNN vs Transformer, Model size, Lifecycle) ---


@st.cache_resource(show_spinner=False, max_entries=16)
def get_rnn_comparison(model_name: str, text: str, embedding: str, hidden: int, seed: int):
    """RNN, GRU and self-attention on the text's tokens: steps, path length, gradient per token."""
    from core import rnn_compare

    return rnn_compare.compare(cache.get_model(model_name), text, embedding=embedding, hidden=hidden, seed=seed)


@st.cache_resource(show_spinner=False, max_entries=4)
def get_anatomy(model_name: str):
    """Parameters by component and block matrix shapes of the loaded model."""
    from core import anatomy

    return anatomy.anatomy(cache.get_model(model_name))


@st.cache_resource(show_spinner=False, max_entries=2)
def _quantization_slot(model_name: str) -> Flight:
    # Like the model slots: the measurement runs outside the cached function so it can drive the
    # page's progress bar; two sessions asking at once measure only once.
    return Flight()


def get_quantization(model_name: str, _progress: Callable[[float, str], None] | None = None):
    """Float vs dynamic-int8 copy of the model: size, speed, agreement (slow: measured once per model)."""
    from core import quantize

    return _quantization_slot(model_name).get(
        lambda: quantize.quantize_dynamic_int8(cache.get_model(model_name), progress=_progress))


def has_quantization(model_name: str) -> bool:
    """Whether the int8 comparison for this model was already measured (so no progress is needed)."""
    return _quantization_slot(model_name).done

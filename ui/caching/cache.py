"""Streamlit caching shared by every page: model slots, the result budget, tokens and analyses.

ui/caching/ holds the only modules where Streamlit caches wrap core calls, one per feature besides
this one (attention_cache, generation_cache, prompting_cache, why_cache, tokens_cache,
embeddings_cache, model_pages_cache, served_cache); single_flight.py is the slot they all use.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable

import streamlit as st

import core
from core import result_budget
from core.analysis import MAX_ANALYZE_TOKENS
from ui.caching.single_flight import Flight

# --- One byte budget for the big per-prompt results (LLM_LENS_CACHE_MB) ---------------------
# Attention is layer × head × pos² floats (283 MB for one 512-token SmolLM2 prompt), so counting
# entries bounds nothing: these results share one budget measured in bytes of their arrays.
DEFAULT_CACHE_MB = 4096  # a 24 GB machine: ~1 GB model, ~2 GB for 30 sessions and a forward pass, ample slack


def cache_budget_mb() -> int:
    """LLM_LENS_CACHE_MB as a whole number of megabytes (default DEFAULT_CACHE_MB)."""
    wanted = os.environ.get("LLM_LENS_CACHE_MB", "").strip()
    if not wanted:
        return DEFAULT_CACHE_MB
    if not wanted.isdigit() or int(wanted) < 1:
        raise ValueError(f"LLM_LENS_CACHE_MB={wanted!r} must be a whole number of megabytes, such as 4096.")
    return int(wanted)


RESULTS = result_budget.ByteBudgetCache(cache_budget_mb() * 2**20)


def by_bytes(func: Callable) -> Callable:
    """Cache func's results (keyed by its plain-valued arguments) in the shared byte budget.

    Like st.cache_resource, two sessions asking for the same key at once share one computation;
    unlike it, the bound is in bytes, so 2 long prompts weigh as much as 200 short ones.
    `cached.key(*args)` is an entry's key; `cached.clear(*args)` forgets it (every entry of func
    when called without arguments), like st.cache_resource's clear.
    """
    signature = inspect.signature(func)

    def key(*args, **kwargs) -> tuple:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()  # get_x(a) and get_x(a, default) are one entry
        return (func.__name__, *bound.arguments.values())

    def clear(*args, **kwargs) -> None:
        wanted = key(*args, **kwargs) if args or kwargs else None
        RESULTS.discard(lambda k: k == wanted if wanted else k[0] == func.__name__)

    @functools.wraps(func)
    def cached(*args, **kwargs):
        return RESULTS.get(key(*args, **kwargs), lambda: func(*args, **kwargs))

    cached.key, cached.clear = key, clear
    return cached


# --- Model slots -----------------------------------------------------------------------------
# A per-name single flight (ui/caching/single_flight.py), so loading runs outside the cached function and can
# drive a progress bar the page owns (cached functions may not update elements created outside them).
# The bundled models and the default are pinned: a typo or a stranger's folder can never evict them.
# Other names share two slots, and only after check_model_name accepted them; a load that fails gives
# its slot back.
OTHER_MODEL_SLOTS = 2


@st.cache_resource(show_spinner=False)  # unbounded, but only bundled names and the default get here
def _pinned_slot(name: str) -> Flight:
    return Flight()


@st.cache_resource(show_spinner=False, max_entries=OTHER_MODEL_SLOTS)
def _other_slot(name: str) -> Flight:
    return Flight()


def is_pinned(name: str) -> bool:
    """Bundled models and the server's default model keep their slot for the life of the process."""
    return name in core.models.BUNDLED or name == (os.environ.get("LLM_LENS_MODEL") or core.models.DEFAULT_MODEL)


_LOADING: dict[str, tuple[float, str]] = {}  # name → the load in flight's last (fraction, message)


def get_model(name: str, _progress: Callable[[float, str], None] | None = None) -> core.LoadedModel:
    """The loaded model, loaded once per process and shared read-only by every session."""
    core.models.check_model_name(name)  # a typo or a refused name fails here, before taking a slot
    pinned = is_pinned(name)
    slot = _pinned_slot(name) if pinned else _other_slot(name)

    def report(fraction: float, message: str) -> None:  # waiters read it through loading_progress
        _LOADING[name] = (fraction, message)
        if _progress is not None:
            _progress(fraction, message)

    return slot.get(lambda: _load(name, pinned, report))  # two sessions asking at once load it once


def loading_progress(name: str) -> tuple[float, str] | None:
    """(fraction, message) of a load of name that another caller (the warm start, a session) has in flight."""
    slot = _pinned_slot(name) if is_pinned(name) else _other_slot(name)
    if not slot.running:
        return None
    return _LOADING.get(name, (0.0, "Starting…"))


def _load(name: str, pinned: bool, progress: Callable[[float, str], None] | None) -> core.LoadedModel:
    try:
        return core.load_model(name, progress=progress)
    except Exception:
        if not pinned:
            _other_slot.clear(name)  # a failed load holds no slot, so it evicts no other model
        raise


@st.cache_resource(show_spinner=False, max_entries=32)
def get_tokens(model_name: str, text: str, add_special_tokens: bool = True) -> core.Tokenization:
    """Tokenization of text (cache_resource: results are frozen, so sharing them is safe)."""
    return core.tokenize(get_model(model_name), text, add_special_tokens=add_special_tokens)


@by_bytes
def get_analysis(model_name: str, text: str, max_tokens: int = MAX_ANALYZE_TOKENS) -> core.Analysis:
    """One forward pass with attention and hidden states; large, so few entries are kept."""
    return core.analyze(get_model(model_name), text, max_tokens=max_tokens)

"""Streamlit caches of the Deploy page's measurements, keyed by the model name and plain values.

Each measurement runs outside a cached function (it drives the page's progress bar) in a slot that
st.cache_resource keeps: two sessions asking for the same measurement compute it once. Results are
small frozen dataclasses; quantized copies are never cached (core builds, measures and frees them),
but while one lives it holds its size in the app's byte budget (ui.caching.cache.RESULTS), so older cached
results make room for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import streamlit as st

from ui.caching.cache import RESULTS, get_model

Progress = Callable[[float, str], None]
KINDS = ("cache_size", "cache_times", "prefill_decode", "batches", "prefix", "formats")


@st.cache_resource(show_spinner=False, max_entries=64)
def _deploy_slot(kind: str, model_name: str, key: tuple) -> dict:
    return {"lock": threading.Lock()}


def has_deploy_result(kind: str, model_name: str, key: tuple) -> bool:
    """Whether this measurement already ran (then it shows without pressing its button)."""
    return "result" in _deploy_slot(kind, model_name, key)


def get_deploy_result(kind: str, model_name: str, key: tuple, _progress: Progress | None = None):
    """A Deploy measurement, once per (kind, model, key); key holds the measure's arguments after the model."""
    if kind not in KINDS:
        raise ValueError(f"Unknown measurement '{kind}'; choose one of {', '.join(KINDS)}.")
    slot = _deploy_slot(kind, model_name, key)
    with slot["lock"]:
        if "result" not in slot:
            slot["result"] = _measure(kind, get_model(model_name), key, _progress)
    return slot["result"]


def _measure(kind: str, model, key: tuple, progress: Progress | None):
    from core.deploy import batch_throughput, kv_cache, prefix_reuse, quant_quality, speed

    if kind == "cache_size":  # key = (text,)
        return kv_cache.cache_size(model, *key)
    if kind == "cache_times":  # key = (text, new_tokens)
        return speed.decode_with_and_without_cache(model, *key, progress=progress)
    if kind == "prefill_decode":  # key = (text, new_tokens)
        return speed.prefill_and_decode(model, *key, progress=progress)
    if kind == "batches":  # key = (text, new_tokens, max_batch)
        return batch_throughput.measure_batches(model, *key, progress=progress)
    if kind == "prefix":  # key = (question,)
        return prefix_reuse.measure_prefix_reuse(model, *key, progress=progress)
    new_tokens, formats = key  # "formats"
    with _reserved(("deploy_formats_copy", model.name), quant_quality.copy_bytes(model)):
        return quant_quality.measure_formats(model, new_tokens, progress=progress, formats=formats)


@contextmanager
def _reserved(key: tuple, size: int) -> Iterator[None]:
    """Hold size bytes of the byte budget (evicting the oldest results, never evicted itself) while the body runs."""
    RESULTS.pin(key + (threading.get_ident(),), size, "A quantized copy of this model")
    try:
        yield
    finally:
        RESULTS.unpin(key + (threading.get_ident(),))

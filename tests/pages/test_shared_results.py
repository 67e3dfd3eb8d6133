"""Sessions asking for the same thing at once share one computation, and results sit in a byte budget."""

from __future__ import annotations

import threading
import time

import pytest
import streamlit as st

from core.runtime import gate
from ui.caching import cache


def _at_once(count: int, call) -> list:
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(call())) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_same_prompt_from_many_sessions_runs_the_model_once(tiny_llama_path):
    name, text = str(tiny_llama_path), "Twenty students typed this same prompt."
    model = cache.get_model(name)
    before = cache.RESULTS.computations
    with gate.hold(model):  # everyone arrives while the model is busy, as in a class
        holder = threading.Thread(target=lambda: results.extend(_at_once(8, lambda: cache.get_analysis(name, text))))
        results: list = []
        holder.start()
        time.sleep(0.3)
    holder.join(30)
    assert len(results) == 8 and all(r is results[0] for r in results)  # one shared, frozen result
    assert cache.RESULTS.computations == before + 1
    assert cache.get_analysis(name, text, 512) is results[0]  # the default argument is the same entry


def test_streamlit_cache_resource_is_single_flight_per_key():
    # Streamlit 1.67 holds a lock per cache key while computing (cache_utils.compute_value_lock),
    # so the cache_resource functions left in ui/caching/cache.py compute once when sessions ask together.
    calls: list[str] = []

    @st.cache_resource(show_spinner=False)
    def slow(key: str) -> object:
        calls.append(key)
        time.sleep(0.2)
        return object()

    results = _at_once(5, lambda: slow("same"))
    assert calls == ["same"] and all(r is results[0] for r in results)


def test_cache_budget_setting(monkeypatch):
    monkeypatch.delenv("LLM_LENS_CACHE_MB", raising=False)
    assert cache.cache_budget_mb() == cache.DEFAULT_CACHE_MB
    monkeypatch.setenv("LLM_LENS_CACHE_MB", "512")
    assert cache.cache_budget_mb() == 512
    for bad in ("lots", "-5", "0", "1.5"):
        monkeypatch.setenv("LLM_LENS_CACHE_MB", bad)
        with pytest.raises(ValueError, match="LLM_LENS_CACHE_MB"):
            cache.cache_budget_mb()

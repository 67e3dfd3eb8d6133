"""Sessions asking for the same thing at once share one computation, and results sit in a byte budget."""

from __future__ import annotations

import contextlib
import threading

import pytest
import streamlit as st
from streamlit.runtime.caching import cache_utils
from threads_kit import count_flight_waiters

from core import gate
from ui import cache


def _at_once(count: int, call) -> list:
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(call())) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_same_prompt_from_many_sessions_runs_the_model_once(tiny_llama_path, monkeypatch):
    name, text = str(tiny_llama_path), "Twenty students typed this same prompt."
    model = cache.get_model(name)
    before = cache.RESULTS.computations
    waiting, queued = count_flight_waiters(monkeypatch), threading.Event()

    def ask():
        with gate.GATE.report_waits_to(lambda ahead: ahead > 0 and queued.set()):
            return cache.get_analysis(name, text)

    results: list = []
    with gate.hold(model):  # everyone arrives while the model is busy, as in a class
        holder = threading.Thread(target=lambda: results.extend(_at_once(8, ask)))
        holder.start()
        assert queued.wait(30)  # one session's computation waits for the model...
        for _ in range(7):  # ...and the seven others wait for that computation
            assert waiting.acquire(timeout=30)
    holder.join(30)
    assert len(results) == 8 and all(r is results[0] for r in results)  # one shared, frozen result
    assert cache.RESULTS.computations == before + 1
    assert cache.get_analysis(name, text, 512) is results[0]  # the default argument is the same entry


def test_streamlit_cache_resource_is_single_flight_per_key(monkeypatch):
    # Streamlit 1.67 holds a lock per cache key while computing (cache_utils.compute_value_lock),
    # so the cache_resource functions left in ui/cache.py compute once when sessions ask together.
    calls: list[str] = []
    blocked = threading.Semaphore(0)
    real_hold = cache_utils._hold_compute_lock

    @contextlib.contextmanager
    def watched_hold(lock):
        if lock.locked():  # another session computes this key: this one is about to wait for it
            blocked.release()
        with real_hold(lock):
            yield

    monkeypatch.setattr(cache_utils, "_hold_compute_lock", watched_hold)

    @st.cache_resource(show_spinner=False)
    def slow(key: str) -> object:
        calls.append(key)
        for _ in range(4):  # finish only once the four other sessions wait on this key's lock
            assert blocked.acquire(timeout=30)
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

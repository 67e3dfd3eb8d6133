"""Sessions asking for the same thing at once share one computation, and results sit in a byte budget."""

from __future__ import annotations

import contextlib
import threading

import pytest
import streamlit as st
from streamlit.runtime.caching import cache_utils
from threads_kit import count_flight_waiters

from core.runtime import gate
from ui.caching import cache, prompting_cache


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
    # so the cache_resource functions left in ui/caching/cache.py compute once when sessions ask together.
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


def test_two_sessions_comparing_the_same_prompts_generate_once(tiny_llama_path, monkeypatch):
    import core

    name = str(tiny_llama_path)
    prompts, settings = ("Zero-shot: Sky?", "One-shot: Sea? blue. Sky?"), core.GenerationSettings(max_new_tokens=4)
    real_stream, real_slot = core.stream_generate, prompting_cache._strategy_slot
    runs, arrived, both_arrived = [], [], threading.Event()

    def slot(*args):  # counts sessions that reached the shared slot
        arrived.append(1)
        if len(arrived) == 2:
            both_arrived.set()
        return real_slot(*args)

    def stream(model, texts, chosen):
        runs.append(1)
        both_arrived.wait(30)  # the first run goes on only once the second session has asked too
        yield from real_stream(model, texts, chosen)

    monkeypatch.setattr(prompting_cache, "_strategy_slot", slot)
    monkeypatch.setattr(core, "stream_generate", stream)
    cache.get_model(name)  # loaded before: the two sessions race for the completions, not the model
    start, results = threading.Barrier(2), []

    def session() -> None:
        start.wait(30)
        results.append(prompting_cache.get_strategy_completions(name, prompts, settings))

    threads = [threading.Thread(target=session) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 2 and len(runs) == 1
    assert [c.text for c in results[0]] == [c.text for c in results[1]] and len(results[0]) == 2
    assert [c.token_ids.tolist() for c in results[0]] == [c.token_ids.tolist() for c in results[1]]

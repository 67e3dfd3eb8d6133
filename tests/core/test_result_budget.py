"""The byte-bounded result cache: sizes from arrays, LRU eviction within budget, single-flight."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pytest
from threads_kit import count_flight_waiters

from core.result_budget import ByteBudgetCache, nbytes


@dataclass(frozen=True)
class _Result:
    weights: np.ndarray
    labels: tuple[str, ...]
    nested: dict


def test_size_counts_every_array_once():
    array = np.zeros((10, 10), dtype=np.float32)  # 400 bytes
    result = _Result(array, ("ab", "c"), {"same": array, "other": np.zeros(5, dtype=np.int64)})
    assert nbytes(result) == 400 + 3 + len("same") + len("other") + 40


def test_least_recently_used_goes_first_and_the_budget_holds():
    cache = ByteBudgetCache(budget_bytes=1000)
    block = lambda: np.zeros(100, dtype=np.float32)  # noqa: E731  400 bytes each
    cache.get("a", block)
    cache.get("b", block)
    cache.get("a", block)  # a is now the most recent
    cache.get("c", block)  # 1,200 bytes: b must go
    assert cache.used_bytes <= 1000
    computed = cache.computations
    cache.get("a", block)
    cache.get("c", block)
    assert cache.computations == computed  # both still cached
    cache.get("b", block)
    assert cache.computations == computed + 1  # b was evicted


def test_an_entry_larger_than_the_budget_is_returned_but_not_kept():
    cache = ByteBudgetCache(budget_bytes=100)
    value = cache.get("big", lambda: np.zeros(1000))
    assert value.shape == (1000,) and len(cache) == 0 and cache.used_bytes == 0


def test_same_key_at_once_is_computed_once(monkeypatch):
    cache, waiting = ByteBudgetCache(10**6), count_flight_waiters(monkeypatch)
    calls: list[int] = []

    def slow():
        calls.append(1)
        for _ in range(4):  # finish only once the other four wait for this computation
            assert waiting.acquire(timeout=10)
        return np.arange(3)

    results: list = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", slow))) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert calls == [1] and len(results) == 5
    assert all(r is results[0] for r in results)  # one object shared by every caller


def test_an_error_reaches_every_waiter_and_is_not_cached(monkeypatch):
    cache, waiting = ByteBudgetCache(10**6), count_flight_waiters(monkeypatch)
    calls: list[int] = []

    def failing():
        calls.append(1)
        if len(calls) == 1:
            assert waiting.acquire(timeout=10)  # fails only once the second caller waits for it
        raise ValueError("Prompt has 9,999 tokens; the limit is 512.")

    errors: list[str] = []

    def ask():
        try:
            cache.get("k", failing)
        except ValueError as error:
            errors.append(str(error))

    first, second = threading.Thread(target=ask), threading.Thread(target=ask)
    first.start()
    second.start()
    first.join(5)
    second.join(5)
    assert len(errors) == 2 and len(cache) == 0 and calls == [1]  # one computation, its error shared
    with pytest.raises(ValueError):
        cache.get("k", failing)  # computed again, not served from a cached failure


class _Growing:
    """Stands for a live stream: it reports its own size, which grows as it runs."""

    def __init__(self, size: int):
        self.size = size

    def held_bytes(self) -> int:
        return self.size


def test_remeasure_follows_a_growing_entry_and_evicts_the_oldest_others():
    cache = ByteBudgetCache(1000)
    cache.get("old", lambda: np.zeros(50, dtype=np.float64))  # 400 bytes
    stream = cache.get("stream", lambda: _Growing(0))
    assert cache.used_bytes == 400
    stream.size = 500
    cache.remeasure("stream")
    assert cache.used_bytes == 900 and "old" in cache
    stream.size = 700  # 400 + 700 > 1000: the oldest entry goes, not the one being read
    cache.remeasure("stream")
    assert "old" not in cache and "stream" in cache and cache.used_bytes == 700
    stream.size = 1001  # larger than the whole budget: kept by its reader, not by the cache
    cache.remeasure("stream")
    assert "stream" not in cache and cache.used_bytes == 0
    cache.remeasure("stream")  # an evicted key is a no-op
    cache.get("a", lambda: _Growing(1)), cache.get("b", lambda: _Growing(2))
    cache.discard(lambda key: key == "a")
    assert "a" not in cache and "b" in cache


def test_a_pin_evicts_old_results_is_never_evicted_and_refuses_past_the_budget():
    cache = ByteBudgetCache(budget_bytes=1000)
    block = lambda: np.zeros(100, dtype=np.float32)  # noqa: E731  400 bytes each
    cache.get("a", block)
    cache.get("b", block)
    cache.pin("adapter", 500)  # 1,300 bytes: the oldest result goes, the pin stays
    assert "a" not in cache and "b" in cache and cache.used_bytes == 900
    cache.get("c", block)  # no room for b and c beside the pin: b goes
    assert "b" not in cache and "c" in cache and cache.pinned_bytes == 500
    cache.get("big", lambda: np.zeros(600, dtype=np.uint8))  # larger than the room the pin leaves: not kept
    assert "big" not in cache and cache.used_bytes <= 1000
    with pytest.raises(ValueError, match="held by other sessions"):
        cache.pin("another adapter", 600)
    cache.unpin("adapter")
    cache.pin("another adapter", 600)
    assert cache.pinned_bytes == 600 and cache.used_bytes <= 1000

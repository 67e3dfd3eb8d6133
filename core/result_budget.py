"""A least-recently-used cache bounded in bytes of numpy arrays, computing each key once while in flight.

Results here are frozen dataclasses of numpy arrays, so their size is the sum of their arrays. Two
callers asking for the same key at once share one computation (single-flight): the first computes,
the others wait for its result (or its error). Plain Python, no Streamlit: the UI layer owns the
instance and the keys.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

import numpy as np

T = TypeVar("T")
_MAX_DEPTH = 6  # results nest a few levels (Analysis → Tokenization → arrays); deeper is not ours


def nbytes(value: object, _depth: int = 0, _seen: set | None = None) -> int:
    """Bytes held by the numpy arrays (and DataFrames, strings) inside a result, counted once each."""
    seen = set() if _seen is None else _seen
    if id(value) in seen or _depth > _MAX_DEPTH:
        return 0
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    held = getattr(value, "held_bytes", None)
    if callable(held):  # a live object (a generation stream) that measures itself; it grows, see remeasure
        return int(held())
    if isinstance(value, (str, bytes)):
        return len(value)
    if hasattr(value, "memory_usage") and hasattr(value, "columns"):  # a pandas DataFrame
        return int(value.memory_usage(index=True, deep=False).sum())
    if isinstance(value, dict):
        children = [*value.keys(), *value.values()]
    elif isinstance(value, (list, tuple, set, frozenset)):
        children = list(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        children = [getattr(value, f.name) for f in dataclasses.fields(value)]
    else:
        return 0
    return sum(nbytes(child, _depth + 1, seen) for child in children)


class _Flight:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: object = None
        self.error: BaseException | None = None


class ByteBudgetCache:
    """LRU entries whose arrays add up to at most budget_bytes; one computation per key in flight."""

    def __init__(self, budget_bytes: int):
        self.budget_bytes = budget_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._flights: dict[Hashable, _Flight] = {}
        self._pins: dict[Hashable, int] = {}  # bytes held by live objects (an adapter, a quantized copy)
        self.computations = 0  # how many times compute ran (tests and the load benchmark read it)

    @property
    def used_bytes(self) -> int:
        with self._lock:
            return sum(size for _, size in self._entries.values()) + sum(self._pins.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached value for key, else compute() once however many callers ask at the same time."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key][0]
            flight = self._flights.get(key)
            leader = flight is None
            if leader:
                flight = self._flights[key] = _Flight()
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.value
        return self._compute(key, flight, compute)

    def _compute(self, key: Hashable, flight: _Flight, compute: Callable[[], T]) -> T:
        try:
            self.computations += 1
            flight.value = compute()
        except BaseException as error:  # the waiters get the same error; nothing is cached
            flight.error = error
            raise
        finally:
            with self._lock:
                self._flights.pop(key, None)
                if flight.error is None:
                    self._store(key, flight.value)
            flight.done.set()
        return flight.value

    def _store(self, key: Hashable, value: object) -> None:
        size = nbytes(value)
        if size > self.budget_bytes - sum(self._pins.values()):  # no room beside the pins: hand it out, keep nothing
            return
        self._entries[key] = (value, size)
        self._evict_to_fit()

    def _evict_to_fit(self) -> None:
        """Evict the least recently used results until results and pins fit the budget (pins never go)."""
        total = sum(s for _, s in self._entries.values()) + sum(self._pins.values())
        while total > self.budget_bytes and self._entries:
            _, (_, evicted) = self._entries.popitem(last=False)
            total -= evicted

    def pin(self, key: Hashable, size: int, what: str = "This object") -> None:
        """Hold size bytes for a live object until unpin(key), evicting cached results to make room.

        Pins are never evicted: a ValueError says so when the pins already held leave no room.
        """
        with self._lock:
            others = sum(s for k, s in self._pins.items() if k != key)
            if others + size > self.budget_bytes:
                held = (f", and {others / 2**20:,.1f} MB of it is held by other sessions' adapters and copies. Try "
                        "again when one is freed, or" if others else ". Choose a smaller one, or")
                raise ValueError(f"{what} needs {size / 2**20:,.1f} MB of the server's memory budget "
                                 f"(LLM_LENS_CACHE_MB = {self.budget_bytes / 2**20:,.1f} MB){held} ask the server's "
                                 "owner for a larger budget.")
            self._pins[key] = size
            self._evict_to_fit()

    def unpin(self, key: Hashable) -> None:
        """Give back a pin's bytes (nothing happens for a key not pinned)."""
        with self._lock:
            self._pins.pop(key, None)

    @property
    def pinned_bytes(self) -> int:
        with self._lock:
            return sum(self._pins.values())

    def remeasure(self, key: Hashable) -> None:
        """Measure one entry again (a stream grows while it runs) and evict the oldest others to fit."""
        with self._lock:
            if key not in self._entries:
                return
            value = self._entries.pop(key)[0]
            self._store(key, value)  # re-inserted as the newest: its reader just used it

    def discard(self, match: Callable[[Hashable], bool]) -> None:
        """Forget the entries whose key matches (a failed stream, a test's clean slate)."""
        with self._lock:
            for key in [k for k in self._entries if match(k)]:
                del self._entries[key]

    def clear(self) -> None:
        """Forget every entry and pin (a test's clean slate; computations in flight finish and are stored)."""
        with self._lock:
            self._entries.clear()
            self._pins.clear()

"""Single flight: one computation per key however many sessions ask, its result kept for later callers.

A `Flight` is the slot of one key: the caches in ui/ keep one per key in a bounded Streamlit cache
(`st.cache_resource(max_entries=...)`), so eviction and `.clear()` work as for any cached value.
The first caller computes; callers arriving meanwhile wait and get the same result or the same
exception; a success is kept (when `keep` accepts it), a failure is not, so the next caller retries.
A Stop or rerun of the first caller's own page (a BaseException) ends only that caller: a waiter
takes over the computation.
Plain Python: no Streamlit here, so it is testable with threads alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Call(Generic[T]):
    """One run of a computation: waiters block on `finished`, then read value or error."""

    def __init__(self) -> None:
        self.finished = threading.Event()
        self.value: T | None = None
        self.error: Exception | None = None
        self.abandoned = False  # the leader's own thread was stopped (a rerun): waiters try again

    def outcome(self) -> T:
        self.finished.wait()
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


class Flight(Generic[T]):
    """One key's computation: run once at a time, its accepted result kept for every later caller."""

    def __init__(self, keep: Callable[[T], bool] | None = None) -> None:
        self._lock = threading.Lock()
        self._keep = keep or (lambda value: True)
        self._call: _Call[T] | None = None  # the run in flight, if any
        self._done = False
        self._value: T | None = None

    @property
    def done(self) -> bool:
        """Whether a result is kept (callers get it without computing)."""
        return self._done

    @property
    def running(self) -> bool:
        """Whether a computation is in flight right now."""
        return self._call is not None

    def get(self, compute: Callable[[], T]) -> T:
        """The kept result, else the running computation's, else compute's (run here, on this thread)."""
        while True:
            with self._lock:
                if self._done:
                    return self._value  # type: ignore[return-value]
                call, leader = (self._call, False) if self._call else (_Call(), True)
                self._call = call
            if leader:
                self._run(call, compute)
            call.finished.wait()
            if not call.abandoned:
                return call.outcome()

    def start(self, compute: Callable[[], T], prepare: Callable[[], None] | None = None,
              settled: Callable[[], None] | None = None) -> bool:
        """Run compute on a daemon thread unless a result is kept or a run is in flight; True if started.

        For state that readers poll (a "running" flag, progress): prepare runs under the flight's lock
        only when this call starts the run, so the state is set before anyone can see the run; settled
        runs once the run is over and a new start would be accepted.
        """
        with self._lock:
            if self._done or self._call is not None:
                return False
            call = self._call = _Call()
            if prepare is not None:
                prepare()
        threading.Thread(target=self._run, args=(call, compute, settled), daemon=True).start()
        return True

    def forget(self) -> None:
        """Drop the kept result: the next caller computes again (a run in flight is not affected)."""
        with self._lock:
            self._done, self._value = False, None

    def _run(self, call: _Call[T], compute: Callable[[], T], settled: Callable[[], None] | None = None) -> None:
        try:
            call.value = compute()
        except Exception as error:  # noqa: BLE001 - handed to every caller of this run (outcome raises it)
            call.error = error
        except BaseException:  # Streamlit's Stop/Rerun of the leader's page: only the leader's thread ends
            call.abandoned = True
            raise
        finally:
            with self._lock:
                if call.error is None and not call.abandoned and self._keep(call.value):  # type: ignore[arg-type]
                    self._done, self._value = True, call.value
                self._call = None
            if settled is not None:  # outside the lock: it may start the next run
                settled()
            call.finished.set()

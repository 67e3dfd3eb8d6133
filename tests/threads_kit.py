"""Test helpers that let a test wait until another thread has reached a point (Events, not sleeps)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from core import result_budget
from core.runtime import gate as gate_module
from core.runtime.gate import InferenceGate


def start_queued(body: Callable[[], object], gate: InferenceGate | None = None, seconds: float = 30.0,
                 report_to: Callable[[int], object] | None = None) -> threading.Thread:
    """Run body on a new thread; return once its gate call reported a place in a queue (so it waits there).

    The gate reports a waiter's place through `report_waits_to` as soon as its ticket is queued: an Event
    set from that report replaces polling the queue's length. Fails the test if it never queued.
    report_to, when given, also receives every report (before the caller is let go).
    """
    gate = gate or gate_module.GATE
    queued = threading.Event()

    def report(ahead: int) -> None:
        if report_to is not None:
            report_to(ahead)
        if ahead > 0:
            queued.set()

    def run() -> None:
        with gate.report_waits_to(report):
            body()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert queued.wait(seconds), "the thread never queued behind the held gate"
    return thread


def count_flight_waiters(monkeypatch: pytest.MonkeyPatch) -> threading.Semaphore:
    """A semaphore released by every ByteBudgetCache caller that starts waiting for another's computation.

    Acquire it once per expected waiter: then they are all waiting, and the computation may finish.
    """
    arrived = threading.Semaphore(0)

    class Done(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            arrived.release()
            return super().wait(timeout)

    class Flight(result_budget._Flight):
        def __init__(self) -> None:
            super().__init__()
            self.done = Done()

    monkeypatch.setattr(result_budget, "_Flight", Flight)
    return arrived

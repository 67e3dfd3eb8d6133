"""The single-flight slot behind the ui caches: one computation per key, failures shared and not kept.

Threads are ordered with Events, Barriers and a semaphore that counts callers waiting on a run (the
run's `finished` event is swapped for one that counts its waiters), so no test depends on timing.
"""

from __future__ import annotations

import threading

import pytest

from ui.caching import single_flight
from ui.caching.single_flight import Flight

WAIT = 30  # seconds: a bound for a broken test, never reached when the code works


class _CountingEvent(threading.Event):
    """An Event that releases a semaphore each time a thread starts waiting on it."""

    def __init__(self, waiters: threading.Semaphore) -> None:
        super().__init__()
        self._waiters = waiters

    def wait(self, timeout: float | None = None) -> bool:
        self._waiters.release()
        return super().wait(timeout)


@pytest.fixture
def waiters(monkeypatch) -> threading.Semaphore:
    """Released once per wait on any run's `finished` event (callers of get queue on it)."""
    semaphore = threading.Semaphore(0)
    real_init = single_flight._Call.__init__

    def init(call) -> None:
        real_init(call)
        call.finished = _CountingEvent(semaphore)

    monkeypatch.setattr(single_flight._Call, "__init__", init)
    return semaphore


def _await(waiters: threading.Semaphore, count: int) -> None:
    """Block until `count` callers are waiting on the run in flight."""
    for _ in range(count):
        assert waiters.acquire(timeout=WAIT)


def _run_all(count: int, target) -> None:
    threads = [threading.Thread(target=target) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads)


def test_many_callers_of_one_key_compute_once_and_share_the_result(waiters):
    flight, calls, results = Flight(), [], []
    start = threading.Barrier(5)

    def compute() -> object:
        calls.append(1)
        _await(waiters, 4)  # the run stays in flight until the other four callers wait on it
        return object()

    def caller() -> None:
        start.wait(WAIT)
        results.append(flight.get(compute))

    _run_all(5, caller)
    assert calls == [1] and len(results) == 5 and all(r is results[0] for r in results)
    assert flight.done and not flight.running
    assert flight.get(compute) is results[0] and calls == [1]  # a later caller gets the kept result


def test_a_failure_reaches_every_waiter_and_is_not_kept(waiters):
    flight, calls, errors = Flight(), [], []
    start = threading.Barrier(3)

    def fails() -> object:
        calls.append(1)
        _await(waiters, 2)
        raise RuntimeError("the model broke")

    def caller() -> None:
        start.wait(WAIT)
        try:
            flight.get(fails)
        except RuntimeError as error:
            errors.append(error)

    _run_all(3, caller)
    assert calls == [1] and len(errors) == 3 and all(e is errors[0] for e in errors)
    assert not flight.done and not flight.running
    assert flight.get(lambda: "fixed") == "fixed" and flight.done  # not kept: the next caller computes


def test_different_keys_run_independently():
    slots = {key: Flight() for key in ("a", "b")}
    b_done, results = threading.Event(), {}

    def slow_a() -> str:
        results["b finished while a ran"] = b_done.wait(WAIT)  # a is in flight until b has finished
        return "a"

    def ask(key: str, compute) -> None:
        results[key] = slots[key].get(compute)
        if key == "b":
            b_done.set()

    threads = [threading.Thread(target=ask, args=("a", slow_a)), threading.Thread(target=ask, args=("b", lambda: "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert results == {"a": "a", "b": "b", "b finished while a ran": True}


def test_a_late_caller_of_a_streaming_computation_gets_the_final_result(waiters):
    flight, seen, late = Flight(), [], []
    midway = threading.Event()

    def stream(on_step) -> list[str]:
        text = []
        for token in ("Paris", ".", "\n"):
            text.append(token)
            on_step("".join(text))
            if len(text) == 1:
                midway.set()
                _await(waiters, 1)  # a second session arrives while the first is mid-stream
        return text

    def late_caller() -> None:
        midway.wait(WAIT)
        late.append(flight.get(lambda: stream(lambda text: seen.append(("late", text)))))

    thread = threading.Thread(target=late_caller)
    thread.start()
    first = flight.get(lambda: stream(lambda text: seen.append(("first", text))))
    thread.join(WAIT)
    assert late == [first] and late[0] is first and first == ["Paris", ".", "\n"]
    assert seen == [("first", "Paris"), ("first", "Paris."), ("first", "Paris.\n")]  # streamed once, to the first
    assert flight.get(lambda: ["recomputed"]) is first  # after the end too


def test_a_stopped_leader_hands_the_computation_to_a_waiter(waiters):
    class Stop(BaseException):  # what Streamlit raises in a page's own thread on Stop or rerun
        pass

    flight, calls, results = Flight(), [], []
    leader_in = threading.Event()

    def stopped() -> str:
        calls.append("stopped")
        leader_in.set()
        _await(waiters, 1)
        raise Stop()

    def waiter() -> None:
        leader_in.wait(WAIT)
        results.append(flight.get(lambda: calls.append("again") or "done"))

    thread = threading.Thread(target=waiter)
    thread.start()
    with pytest.raises(Stop):
        flight.get(stopped)
    thread.join(WAIT)
    assert calls == ["stopped", "again"] and results == ["done"] and flight.done


def test_start_runs_one_background_worker_and_keeps_only_what_keep_accepts():
    flight = Flight(keep=lambda result: result != "partial")
    release, prepared = threading.Event(), []

    def work(result: str):
        def run() -> str:
            release.wait(WAIT)
            return result
        return run

    settled = []  # what a reader polling a "running" flag cleared by `settled` would see then
    assert flight.start(work("partial"), lambda: prepared.append(1), lambda: settled.append(flight.running))
    run = flight._call  # the worker's run, to wait for its end
    assert not flight.start(work("other"), lambda: prepared.append(2))  # in flight: not started twice
    release.set()
    assert run.finished.wait(WAIT) and not flight.running and settled == [False]
    assert not flight.done and prepared == [1]  # a partial result is not kept...
    assert flight.start(work("complete"), lambda: prepared.append(3))  # ...so it can be started again
    assert flight.get(lambda: "unused") == "complete" and flight.done and prepared == [1, 3]
    assert not flight.start(work("more"), lambda: prepared.append(4)) and prepared == [1, 3]  # kept: never rerun

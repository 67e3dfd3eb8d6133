"""The inference gate: one computation per model at a time, first come first served, places reported."""

from __future__ import annotations

import sys
import threading
import time

import pytest
from threads_kit import start_queued

from core.runtime import settings
from core.runtime.gate import InferenceGate


def _start_waiter(gate: InferenceGate, key, name: str, order: list, reports: dict | None = None):
    def body():
        seen = reports.setdefault(name, []) if reports is not None else []
        with gate.report_waits_to(seen.append), gate.hold(key):
            order.append(name)

    thread = threading.Thread(target=body)
    thread.start()
    return thread


def test_requests_run_one_at_a_time_in_arrival_order():
    gate, order, reports = InferenceGate(), [], {}
    with gate.hold("m"):
        threads = []
        for index, name in enumerate("abc"):
            def body(name=name):
                with gate.hold("m"):
                    order.append(name)

            # Each waiter's first report (its place) comes once its ticket is queued: then start the next.
            threads.append(start_queued(body, gate, report_to=reports.setdefault(name, []).append))
            assert gate.waiting("m") == index + 2
        assert order == []  # nobody ran while the gate was held
    for thread in threads:
        thread.join(5)
    assert order == ["a", "b", "c"]
    assert reports["a"][0] == 1 and reports["c"][0] == 3  # "3 requests ahead" for the last one
    assert all(r[-1] == 0 for r in reports.values())  # each was told when its turn came
    assert gate.waiting("m") == 0


def test_other_models_are_not_blocked():
    gate, order = InferenceGate(), []
    with gate.hold("big"):
        thread = _start_waiter(gate, "small", "s", order)
        thread.join(5)
    assert order == ["s"]


def test_same_thread_may_nest_without_deadlock():
    gate = InferenceGate()
    with gate.hold("m"), gate.hold("m"):
        assert gate.waiting("m") == 1


def test_an_exception_releases_the_gate():
    gate = InferenceGate()
    try:
        with gate.hold("m"):
            raise ValueError("boom")
    except ValueError:
        pass
    assert gate.waiting("m") == 0
    order: list = []
    _start_waiter(gate, "m", "after", order).join(5)
    assert order == ["after"]


def test_bodies_never_overlap_under_contention():
    gate, active, overlaps = InferenceGate(), [0], []
    lock = threading.Lock()

    def body():
        for _ in range(20):
            with gate.hold("m"):
                with lock:
                    active[0] += 1
                    overlaps.append(active[0])
                time.sleep(0.0005)
                with lock:
                    active[0] -= 1

    threads = [threading.Thread(target=body) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(overlaps) == 120 and max(overlaps) == 1


def test_a_running_model_gets_a_short_thread_switch_interval_until_the_last_one_ends():
    before = sys.getswitchinterval()
    gate, inside = InferenceGate(), {}
    with gate.hold("a"):
        inside["a"] = sys.getswitchinterval()
        with gate.hold("b"), gate.hold("b"):  # another model, and a nested hold
            inside["b"] = sys.getswitchinterval()
        inside["a after b"] = sys.getswitchinterval()
    assert all(value == pytest.approx(settings.MODEL_SWITCH_INTERVAL) for value in inside.values()), inside
    assert sys.getswitchinterval() == before


def test_the_switch_interval_comes_back_after_an_exception():
    before = sys.getswitchinterval()
    with pytest.raises(ValueError), InferenceGate().hold("m"):
        raise ValueError("boom")
    assert sys.getswitchinterval() == before

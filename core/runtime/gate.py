"""The inference gate: at most one model computation per model at a time, first come first served.

Every forward pass, generation step batch and evaluation batch runs inside `hold(model)`. Long
jobs take the gate once per batch, so a short request queued behind them waits at most one batch.
A page can learn its place in the queue ("2 requests ahead") through `report_waits_to`, which
keeps core free of Streamlit: the callback is whatever the page passes in.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from core.runtime import settings

WaitReport = Callable[[int], None]  # called with the number of computations ahead of this one

_POLL_SECONDS = 0.2  # how often a waiting request re-reads its place to report it


class InferenceGate:
    """FIFO queues keyed by model; re-entrant within one thread (a held gate is not taken twice)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._queues: dict[object, deque[object]] = {}
        self._local = threading.local()

    @contextmanager
    def hold(self, key: object) -> Iterator[None]:
        """Wait for this key's turn, run the body alone for that key, then let the next one in."""
        with self.hold_unless(key, None):
            yield

    @contextmanager
    def hold_unless(self, key: object, served: threading.Event | None) -> Iterator[bool]:
        """Like hold, but leave the queue early when `served` is set (another request did our work).

        Yields True when this thread holds the gate, False when it left because `served` was set.
        Batching uses it: a leader computes the waiting requests with its own and sets their events.
        """
        held: set = self._held()
        if key in held:  # nested call on the same thread (e.g. generate inside analyze_with_answer)
            yield True
            return
        ticket = object()
        with self._condition:
            queue = self._queues.setdefault(key, deque())
            queue.append(ticket)
        turn = False
        try:
            turn = self._wait_turn(queue, ticket, served)
            if turn:
                held.add(key)
                settings.SWITCH_INTERVAL.enter()
            yield turn
        finally:
            if turn:
                settings.SWITCH_INTERVAL.leave()
                held.discard(key)
            with self._condition:
                queue.remove(ticket)
                if not queue:
                    self._queues.pop(key, None)
                self._condition.notify_all()

    def held_keys(self) -> frozenset:
        """The keys this thread holds right now (lanes borrow them, see `lent`)."""
        return frozenset(self._held())

    @contextmanager
    def lent(self, keys: frozenset) -> Iterator[None]:
        """Count this thread as holding keys while the body runs: a lane working for the gate's holder."""
        held = self._held()
        added = set(keys) - held
        held |= added
        try:
            yield
        finally:
            held -= added

    def is_held(self, key: object) -> bool:
        """Whether this thread holds the gate for key right now."""
        return key in self._held()

    def waiting(self, key: object) -> int:
        """How many computations hold or wait for this key right now."""
        with self._condition:
            return len(self._queues.get(key, ()))

    @contextmanager
    def report_waits_to(self, callback: WaitReport) -> Iterator[None]:
        """While the body runs on this thread, report each change of its place in a queue."""
        previous = getattr(self._local, "report", None)
        self._local.report = callback
        try:
            yield
        finally:
            self._local.report = previous

    def _wait_turn(self, queue: deque, ticket: object, served: threading.Event | None) -> bool:
        report: WaitReport | None = getattr(self._local, "report", None)
        last_ahead = None
        while True:
            with self._condition:
                if served is not None and served.is_set():
                    return False
                if queue[0] is ticket:
                    break
                ahead = queue.index(ticket)
                if ahead == last_ahead or report is None:
                    self._condition.wait(_POLL_SECONDS)
                    continue
            last_ahead = ahead
            report(ahead)  # outside the lock: the callback may draw on a page
        if last_ahead is not None and report is not None:
            report(0)
        return True

    def _held(self) -> set:
        if not hasattr(self._local, "held"):
            self._local.held = set()
        return self._local.held


GATE = InferenceGate()


def gate_key(model) -> object:
    """One queue per loaded network (two sessions on the same model share it).

    A structural copy around the same weights (core.adapt.lora) carries its original's key, so an
    adapted model's computations queue with the shared model's.
    """
    net = model if hasattr(model, "parameters") else getattr(model, "model", model)  # a network, or a LoadedModel
    return getattr(net, "lens_gate_key", None) or id(net)


@contextmanager
def hold(model) -> Iterator[None]:
    """Run the body as the only computation on this model (see InferenceGate.hold)."""
    with GATE.hold(gate_key(model)):
        yield


def report_waits_to(callback: WaitReport):
    """Report this thread's place in any gate queue to callback while the body runs."""
    return GATE.report_waits_to(callback)


@contextmanager
def inference(model) -> Iterator[None]:
    """The gate plus torch.inference_mode: the way every read-only forward pass runs."""
    import torch  # local: the queue above is plain Python and testable without torch

    with hold(model), torch.inference_mode():
        yield

"""At most N fine-tuning runs at once on the server (default 1); the rest wait in order, told their place."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_POLL_SECONDS = 0.2  # how often a waiting run re-reads its place and whether it was stopped


class TrainingQueue:
    """A first-come-first-served queue with `slots` runs admitted at a time."""

    def __init__(self, slots: int = 1) -> None:
        if slots < 1:
            raise ValueError(f"At least 1 training slot is needed; got {slots}.")
        self.slots = slots
        self._condition = threading.Condition()
        self._tickets: deque[object] = deque()

    @contextmanager
    def turn(self, report: Callable[[int], None] | None = None,
             should_stop: Callable[[], bool] | None = None) -> Iterator[bool]:
        """Wait for a slot, reporting the runs ahead; yields True when admitted, False if stopped while waiting."""
        ticket = object()
        with self._condition:
            self._tickets.append(ticket)
        try:
            yield self._wait(ticket, report, should_stop)
        finally:
            with self._condition:
                self._tickets.remove(ticket)
                self._condition.notify_all()

    def _wait(self, ticket: object, report, should_stop) -> bool:
        last = None
        while True:
            with self._condition:
                ahead = self._tickets.index(ticket) - self.slots + 1
                if ahead <= 0:
                    return True
                if should_stop is not None and should_stop():
                    return False
                if ahead == last or report is None:
                    self._condition.wait(_POLL_SECONDS)
                    continue
            last = ahead
            report(ahead)  # outside the lock: the callback may write to a page's state

    def waiting(self) -> int:
        """Runs training or waiting right now."""
        with self._condition:
            return len(self._tickets)

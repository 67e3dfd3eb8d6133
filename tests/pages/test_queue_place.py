"""A page waiting for the model says how many requests are ahead, updating as the queue moves."""

from __future__ import annotations

import threading

from threads_kit import start_queued

from core.runtime import gate
from ui import widgets


class _Placeholder:
    """Stands in for st.empty(): records what the page would show in it, in order, and wakes watchers."""

    def __init__(self):
        self.shown: list[str] = []
        self.changed = threading.Condition()

    def _show(self, text: str) -> None:
        with self.changed:
            self.shown.append(text)
            self.changed.notify_all()

    def caption(self, text: str) -> None:
        self._show(text)

    def empty(self) -> None:
        self._show("")

    def wait_for(self, condition, seconds: float = 30) -> None:
        with self.changed:
            assert self.changed.wait_for(condition, seconds), f"the page never showed it: {self.shown}"


def _queue_behind(key: str, holders: int) -> list[threading.Event]:
    """Threads that take the gate one after another and hold it until their event is set."""
    releases = [threading.Event() for _ in range(holders)]
    entered = threading.Event()
    for index, release in enumerate(releases):
        def hold(release=release):
            with gate.GATE.hold(key):
                entered.set()
                release.wait(10)

        if index == 0:  # the first takes the free gate at once
            threading.Thread(target=hold, daemon=True).start()
            assert entered.wait(10)
        else:  # the others queue behind it, in this order
            start_queued(hold)
    return releases


def test_waiting_page_counts_down_then_clears(monkeypatch):
    place = _Placeholder()
    monkeypatch.setattr(widgets.st, "empty", lambda: place)
    releases = _queue_behind("queue-test", 2)

    def release_in_turn():
        for release in releases:
            place.wait_for(lambda: place.shown and place.shown[-1] != "")
            shown = len(place.shown)
            release.set()
            if release is not releases[-1]:
                place.wait_for(lambda n=shown: len(place.shown) > n)

    releaser = threading.Thread(target=release_in_turn)
    releaser.start()
    with widgets.model_wait(None), gate.GATE.hold("queue-test"):
        ran_at = list(place.shown)
    releaser.join(10)
    assert ran_at == [widgets.queue_text(2), widgets.queue_text(1), ""]  # counted down, cleared at its turn
    assert place.shown[-1] == ""  # nothing left on the page afterwards
    assert widgets.queue_text(1) == "⏳ Waiting for the model: 1 request ahead"


def test_nothing_is_shown_when_the_model_is_free(monkeypatch):
    place = _Placeholder()
    monkeypatch.setattr(widgets.st, "empty", lambda: place)
    with widgets.model_wait(None), gate.GATE.hold("free-model"):
        pass
    assert place.shown == [""]  # only the final clean-up

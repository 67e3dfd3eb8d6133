"""A page waiting for the model says how many requests are ahead, updating as the queue moves."""

from __future__ import annotations

import threading
import time

from core.runtime import gate
from ui import widgets


class _Placeholder:
    """Stands in for st.empty(): records what the page would show in it, in order."""

    def __init__(self):
        self.shown: list[str] = []

    def caption(self, text: str) -> None:
        self.shown.append(text)

    def empty(self) -> None:
        self.shown.append("")


def _queue_behind(key: str, holders: int) -> list[threading.Event]:
    """Threads that take the gate one after another and hold it until their event is set."""
    releases = [threading.Event() for _ in range(holders)]
    for index, release in enumerate(releases):
        def hold(release=release):
            with gate.GATE.hold(key):
                release.wait(10)

        threading.Thread(target=hold, daemon=True).start()
        while gate.GATE.waiting(key) < index + 1:
            time.sleep(0.005)
    return releases


def test_waiting_page_counts_down_then_clears(monkeypatch):
    place = _Placeholder()
    monkeypatch.setattr(widgets.st, "empty", lambda: place)
    releases = _queue_behind("queue-test", 2)

    def release_in_turn():
        for release in releases:
            while not place.shown or place.shown[-1] == "":
                time.sleep(0.005)
            shown = len(place.shown)
            release.set()
            while len(place.shown) == shown and release is not releases[-1]:
                time.sleep(0.005)

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

"""The warm start (ui.warm_start) on the tiny Llama: one load however many sessions wait, and a first visit after
the warm-up computes nothing that the warm-up did not."""

from __future__ import annotations

import threading

import pytest
from page_kit import open_page

import core
from ui import warm_start
from ui.caching import cache

# Pages whose default view the warm-up computes: a first visit after it runs no forward pass of the model.
WARMED = ("tokens", "embeddings", "attention", "why", "prompting", "adapt")


@pytest.fixture
def fresh_warm_start(monkeypatch):
    """A warm-up state as in a new process (the real one is process-wide)."""
    monkeypatch.setattr(warm_start, "_state", {"thread": None, "phase": "idle", "seconds": {}, "progress": (0.0, "")})
    return warm_start


def _count_forwards(model: core.LoadedModel) -> tuple[list[int], object]:
    calls = [0]
    handle = model.model.register_forward_pre_hook(lambda module, args: calls.__setitem__(0, calls[0] + 1))
    return calls, handle


def test_the_model_loads_once_however_many_sessions_arrive_during_the_load(app_env, fresh_warm_start, monkeypatch):
    name = str(app_env)
    cache._pinned_slot.clear(name)  # a new process: the model is not loaded yet
    release, loads, real = threading.Event(), [], core.load_model

    def slow_load(*args, **kwargs):
        loads.append(args)
        assert release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(core, "load_model", slow_load)
    thread = fresh_warm_start.start(name, views=False)
    assert fresh_warm_start.start(name, views=False) is thread  # once per process
    while not loads:  # the warm start is inside the load
        assert thread.is_alive()
        threading.Event().wait(0.01)
    assert cache.loading_progress(name) is not None  # what a waiting page shows
    got = []
    sessions = [threading.Thread(target=lambda: got.append(cache.get_model(name))) for _ in range(5)]
    for session in sessions:
        session.start()
    release.set()
    for session in [*sessions, thread]:
        session.join(60)
    assert len(loads) == 1 and len(got) == 5 and all(model is got[0] for model in got)
    assert fresh_warm_start.phase() == "done" and cache.loading_progress(name) is None
    assert set(fresh_warm_start.seconds()) >= {"torch", "model", "imports", "total"}


def test_a_page_opened_during_the_start_waits_then_renders(make_app, fresh_warm_start, monkeypatch):
    # The page asks while the warm start is still importing torch: it waits (a message), then renders.
    fresh_warm_start._state["phase"] = "torch"
    threading.Timer(1.0, lambda: fresh_warm_start._state.update(phase="done")).start()
    at = open_page(make_app, "attention")
    assert at.get("plotly_chart")  # the page came once the start was over
    assert fresh_warm_start.progress() is None


@pytest.mark.parametrize("page", WARMED)
def test_a_first_visit_after_the_warm_up_runs_no_forward_pass(make_app, app_env, page):
    name = str(app_env)
    warm_start.warm_defaults(name)
    model = cache.get_model(name)
    calls, handle = _count_forwards(model)
    try:
        open_page(make_app, page)
    finally:
        handle.remove()
    assert calls[0] == 0, f"{page}: {calls[0]} forward passes the warm-up did not do"


def test_page_modules_are_found_from_the_pages_themselves():
    modules = warm_start.page_modules()
    assert "ui.sections.why_ui" in modules and "ui.sections.adapt_ui" in modules and "core.why.attribution" in modules
    warm_start.import_page_modules()  # every one imports (a name that is not a module is skipped)

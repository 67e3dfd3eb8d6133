"""The warm start (ui.warm_start) on the tiny Llama: one load however many sessions wait, and a first visit after
the warm-up computes nothing that the warm-up did not."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from page_kit import open_page

import core
from ui import warm_start
from ui.caching import cache

ROOT = warm_start.ROOT

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


def test_the_background_steps_wait_while_a_page_runs():
    waited = threading.Event()
    step = threading.Thread(target=lambda: (warm_start.give_way(30, quiet=0.0), waited.set()))
    with warm_start.page_running():
        step.start()
        assert not waited.wait(0.5)  # a student's page is running: the background step has not started
        assert warm_start.pages_running() == 1
    assert waited.wait(5) and warm_start.pages_running() == 0
    with pytest.raises(KeyError), warm_start.page_running():  # a run that fails (or reruns) still ends its count
        raise KeyError("page")
    assert warm_start.pages_running() == 0


def test_the_warm_up_gives_way_before_each_view_it_computes(app_env):
    calls = []
    warm_start.warm_defaults(str(app_env), before_each=lambda: calls.append(warm_start.pages_running()))
    assert len(calls) == 6  # analysis, tokens, embeddings, prompting, why, adapt: the tiny Llama is a decoder


def test_the_background_steps_let_the_browser_draw_what_a_page_run_sent():
    with warm_start.page_running():
        pass
    started = threading.Event()
    step = threading.Thread(target=lambda: (warm_start.give_way(30, quiet=0.6), started.set()))
    step.start()
    assert not started.wait(0.3)  # a run just ended: its browser is drawing
    assert started.wait(5)


def test_the_collector_is_paused_inside_and_back_after_nested_pauses():
    import gc

    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    try:
        with warm_start.gc_paused():
            assert not gc.isenabled()
            with warm_start.gc_paused(freeze=True):
                assert not gc.isenabled()
            assert not gc.isenabled()  # the outer pause is still on
            assert gc.get_freeze_count() > frozen  # what existed is out of the collector's reach
        assert gc.isenabled()
        gc.disable()  # an operator who turned the collector off keeps it off
        with warm_start.gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


def test_a_servers_first_import_of_torch_runs_no_collection_and_freezes_what_it_made():
    # A fresh process, as `python -m ui.warm_start` starts: count the collector's runs during the import.
    script = """
import gc, sys
from ui import warm_start
runs = []
gc.callbacks.append(lambda phase, info: phase == "start" and runs.append(info["generation"]))
warm_start._import_torch()
print(len(runs), gc.isenabled(), gc.get_freeze_count(), "torch" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    runs, enabled, frozen, imported = out.stdout.split()[-4:]
    assert imported == "True" and runs == "0" and enabled == "True"
    assert int(frozen) > 100_000  # torch's and transformers' objects: hundreds of thousands

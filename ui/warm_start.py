"""Warm start: the server loads the default model when it starts, not when the first student arrives.

`python -m ui.warm_start [streamlit options]` (what `make run` and the `llm-lens-serve` command run)
starts one background thread, then Streamlit's server in the same process, so the health check
answers at once. The thread, in order:

1. imports torch and transformers (and what app.py imports for every page run) and loads the default
   model and its tokenizer through the same single-flight slot the pages use
   (ui.caching.cache.get_model): a session that arrives during the load waits on that load, seeing
   its progress, and never starts a second one;
2. imports what every page imports (read from app_pages/*.py), so no page pays for captum, peft or
   scipy on its first visit;
3. computes the default views a new session opens on (the default prompt, the first preset): the
   attention analysis first (at full priority: it is the first map), then the tokenizer comparison,
   the embeddings' per-model data, the three prompt strategies, the Why page's input attribution and
   the Adapt page's steering. They are the same cached calls the pages make, so a first visit finds
   them done. Each holds the model's gate per forward pass, like any request.

Steps 2 and 3 give way to students: before each import and each view the thread waits while a page
run is in progress (app.py runs inside `page_running`) or one ended less than QUIET_SECONDS ago
(a browser on the same machine is drawing what it sent), up to GIVE_WAY_SECONDS, and it runs at a
lower thread priority. Python runs one thread at a time, so a background import would otherwise
halve the speed of the page a student is waiting for; the lower priority alone does not stop that.

The imports run with Python's cyclic garbage collector paused (`gc_paused`): an import makes objects
that live as long as the process, and every collection during it walks them all again for nothing.
After the torch and transformers import those objects are frozen out of the collector's reach
(`gc.freeze`), so a later full collection during a student's request does not walk them either.

LLM_LENS_WARM_VIEWS=0 skips step 3 (the model still preloads).
"""

from __future__ import annotations

import ast
import contextlib
import gc
import importlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
log = logging.getLogger(__name__)
NICE = 10  # after the model, the warm-up thread gives way to students' requests (Linux: a thread's own nice)
RUNTIME_WAIT_SECONDS = 120  # views are cached in the server's caches: warm them once its runtime exists
GIVE_WAY_SECONDS = 30  # the longest a background step waits for page runs to end (then it runs alongside)
QUIET_SECONDS = 1.0  # and after the last one ended: the student's browser draws what the run sent
_state = {"thread": None, "phase": "idle", "seconds": {}, "progress": (0.0, "")}
_pages = {"running": 0, "ended": 0.0}  # page runs in progress in this process (app.py's body), the last's end
_lock = threading.Lock()
_gc = {"pauses": 0, "resume": False}  # gc_paused calls in progress; whether the collector was on before the first


def start(name: str | None = None, views: bool | None = None) -> threading.Thread:
    """Start the warm-up thread once per process (a second call returns the first thread)."""
    with _lock:
        if _state["thread"] is None:
            _state["phase"] = "torch"  # before the thread runs: a page that arrives first waits for it
            if views is None:
                views = os.environ.get("LLM_LENS_WARM_VIEWS", "1").strip().lower() not in ("0", "false", "no", "off")
            _state["thread"] = threading.Thread(target=_run, args=(name, views), name="warm-start", daemon=True)
            _state["thread"].start()
        return _state["thread"]


def phase() -> str:
    """Where the warm-up is: idle, torch, model, first-map, imports, views, done or failed."""
    return _state["phase"]


def progress() -> tuple[float, str] | None:
    """(fraction, message) while the warm start imports torch and transformers; None otherwise.

    Then a page imports its own modules while the model loads, and waits for the load in
    widgets.current_model (which shows its progress): the two overlap instead of queueing.
    """
    return _state["progress"] if _state["phase"] == "torch" else None


def seconds() -> dict[str, float]:
    """Seconds each finished phase took (the start benchmark reports them)."""
    return dict(_state["seconds"])


@contextlib.contextmanager
def page_running():
    """Around a page run (app.py's body): while any runs, the warm-up's background steps wait."""
    with _lock:
        _pages["running"] += 1
    try:
        yield
    finally:
        with _lock:
            _pages["running"] -= 1
            _pages["ended"] = time.monotonic()


def pages_running() -> int:
    """Page runs in progress now."""
    return _pages["running"]


def give_way(seconds: float = GIVE_WAY_SECONDS, quiet: float = QUIET_SECONDS) -> None:
    """Wait until no page run is in progress and none ended in the last `quiet` seconds, or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and (_pages["running"] > 0 or time.monotonic() - _pages["ended"] < quiet):
        time.sleep(0.05)


@contextlib.contextmanager
def gc_paused(freeze: bool = False):
    """Pause Python's cyclic garbage collector around imports (reference counting still frees what it can).

    Measured on this 2-core machine, importing torch, transformers and the model code (446,000 objects
    that live as long as the process) took 4.3-5.3 s with the collector on and 3.6-4.2 s paused: its 1,100-odd
    collections during the import walked those objects again and again. freeze=True then moves every
    object made so far out of the collector's reach for good (gc.freeze): a full collection afterwards
    took 0.24 s with them and 0.00 s frozen, a pause a student's request would otherwise pay. Nested
    and concurrent pauses are counted: the last one to end turns the collector back on, if it was on.
    """
    with _lock:
        if _gc["pauses"] == 0:
            _gc["resume"] = gc.isenabled()
            gc.disable()
        _gc["pauses"] += 1
    try:
        yield
    finally:
        with _lock:
            if freeze:
                gc.freeze()
            _gc["pauses"] -= 1
            if _gc["pauses"] == 0 and _gc["resume"]:
                gc.enable()


def _run(name: str | None, views: bool) -> None:
    started = time.monotonic()
    try:
        _step("torch", _import_torch)  # everyone waits for these two: full priority
        _step("model", lambda: _load_model(name))
        if views:
            _step("first-map", lambda: warm_first_map(name))  # the view most sessions wait for: full priority too
        _lower_priority()
        _step("imports", lambda: import_page_modules(before_each=give_way))
        if views:
            _step("views", lambda: warm_views(name))
        _state["phase"] = "done"
    except Exception:  # noqa: BLE001 - a failed warm-up leaves the pages to load on demand, as without it
        log.exception("Warm start failed; pages will load the model on demand")
        _state["phase"] = "failed"
    _state["seconds"]["total"] = time.monotonic() - started


def _step(phase_name: str, work) -> None:
    _state["phase"] = phase_name
    started = time.monotonic()
    work()
    _state["seconds"][phase_name] = time.monotonic() - started


def _lower_priority() -> None:
    """Lower this thread's priority, so a page a student opened runs first on a busy CPU (no-op elsewhere)."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not allowed: normal priority, as before
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)


def _import_torch() -> None:
    _state["progress"] = (0.05, "Importing torch and transformers…")
    if "ui.caching.cache" in sys.modules:  # imported already (a test's process): nothing to import or freeze
        return
    with gc_paused(freeze=True):
        importlib.import_module("ui.caching.cache")  # core: torch, transformers and the model code
        # What every page run imports first (app.py's own imports: ui.share, ui.widgets, pandas through them):
        # here, with the collector paused, instead of in the first page run while the model loads.
        _import_all(page_modules([APP]))


def _load_model(name: str | None):
    from ui import widgets
    from ui.caching import cache

    return cache.get_model(name or widgets.default_model())


def page_modules(paths: list[Path] | None = None) -> list[str]:
    """The project and library modules app.py and app_pages/*.py (or `paths`) import (not run: read with ast)."""
    names: list[str] = []
    for path in paths or [APP, *sorted((ROOT / "app_pages").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return list(dict.fromkeys(names))


def import_page_modules(before_each: Callable[[], None] | None = None) -> None:
    """Import every module the pages import (a `from x import name` that is not a module is skipped);
    `before_each` is called before each module not imported yet (the warm-up gives way there)."""
    for name in page_modules():
        if name in sys.modules:
            continue
        if before_each is not None:
            before_each()
        with gc_paused():  # one module at a time: pages that run meanwhile keep their collector between them
            _import_all([name])


def _import_all(names: list[str]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            continue  # `from package import function`: the package itself is imported on its own line


def _server_running() -> bool:
    """Wait until Streamlit's runtime exists: the pages' caches live in it (False when it never comes)."""
    from streamlit import runtime

    deadline = time.monotonic() + RUNTIME_WAIT_SECONDS
    while not runtime.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return runtime.exists()


def warm_first_map(name: str | None) -> None:
    """The default prompt's analysis: Attention's first map (and Embeddings', Generation's, Why's input)."""
    from ui import widgets
    from ui.caching import cache

    if _server_running():  # not under a Streamlit server: results would land in a throwaway cache
        cache.get_analysis(name or widgets.default_model(), widgets.DEFAULT_PROMPT)


def warm_views(name: str | None) -> None:
    """The default views the pages open on (the default prompt, the first preset), computed into their caches.

    Each page's section says what its default view computes (its `warm`), from the same declared defaults
    its widgets start from; a test checks that a first visit after this computes nothing more.
    """
    if _server_running():
        warm_defaults(name, before_each=give_way)


def warm_defaults(name: str | None, before_each: Callable[[], None] | None = None) -> None:
    """warm_views' work, in whatever caches are current (tests call it directly); `before_each` is called
    before each view (the warm-up gives way there)."""
    from ui import widgets
    from ui.caching import cache
    from ui.sections import adapt_steer_ui, embeddings_ui, prompting_ui, tokens_ui, why_ui

    name = name or widgets.default_model()
    model, text = cache.get_model(name), widgets.DEFAULT_PROMPT
    warmers = [lambda: cache.get_analysis(name, text),  # done already when warm_first_map ran
               lambda: tokens_ui.warm(name, text), lambda: embeddings_ui.warm(name)]
    if model.info.is_decoder:
        warmers += [lambda: prompting_ui.warm(model, name), lambda: why_ui.warm(model, name, text),
                    lambda: adapt_steer_ui.warm(model, name)]
    for warm in warmers:
        if before_each is not None:
            before_each()
        try:
            warm()
        except ValueError as error:  # this model cannot show that default (e.g. a tiny context): the page says so
            log.info("Warm start skipped a default view: %s", error)


def main(argv: list[str] | None = None) -> int:
    """Start the warm-up thread, then `streamlit run app.py` with the given options, in this process."""
    start()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP), *(sys.argv[1:] if argv is None else argv)]
    return cli.main()


if __name__ == "__main__":  # run as the importable module, so pages and tests see one warm-up state
    from ui import warm_start

    sys.exit(warm_start.main())

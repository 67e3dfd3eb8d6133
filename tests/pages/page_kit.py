"""Helpers shared by the page tests: open one page of the app in AppTest, start from empty result caches."""

from __future__ import annotations

import sys
from collections.abc import Callable

import streamlit as st
from streamlit.runtime.caching.cache_utils import CachedFunc
from streamlit.testing.v1 import AppTest


def open_page(make_app: Callable[[], AppTest], page: str, typed: str | None = None,
              params: dict | None = None, **state) -> AppTest:
    """Run app_pages/<page>.py with session state (and query params) seeded; type `typed` into its Prompt box.

    Fails the test if the page raised: every caller checks a page that rendered.
    """
    at = make_app()
    for key, value in state.items():
        at.session_state[key] = value
    for key, value in (params or {}).items():
        at.query_params[key] = value
    at.switch_page(page if page.endswith(".py") else f"app_pages/{page}.py").run()
    if typed is not None:
        at.text_area(key="prompt").set_value(typed).run()
    assert not at.exception, at.exception
    return at


# Loaded models and tokenizers, read-only and shared: reloading them for every test would cost seconds each
# (a bundled tokenizer is parsed from its GGUF) and they hold no per-input results.
KEEP = {("ui.caching.cache", "_pinned_slot"), ("ui.caching.cache", "_other_slot"),
        ("ui.caching.tokens_cache", "get_tokenizer")}


def _cached_functions() -> list[tuple[str, str, CachedFunc]]:
    """(module, name, cached function) for every st.cache_* function in the ui modules imported so far."""
    found = []
    for module_name, module in list(sys.modules.items()):
        if module_name == "ui" or not module_name.startswith("ui."):
            continue
        for name, value in list(vars(module).items()):
            if isinstance(value, CachedFunc) and value.__module__ == module_name:
                found.append((module_name, name, value))
    return found


def clear_results() -> None:
    """Forget every cached per-input result: st.cache_data, st.cache_resource (bar KEEP), the byte budget."""
    st.cache_data.clear()
    for module_name, name, cached in _cached_functions():
        if (module_name, name) not in KEEP:
            cached.clear()
    cache = sys.modules.get("ui.caching.cache")
    if cache is not None:
        cache.RESULTS.clear()

"""Page-test fixtures: every test starts with Streamlit's caches and the byte budget empty (loaded models kept)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import streamlit as st
from streamlit.runtime.caching.cache_utils import CachedFunc

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Loaded models and tokenizers, read-only and shared: reloading them for every test would cost seconds each
# (a bundled tokenizer is parsed from its GGUF) and they hold no per-input results.
KEEP = {("ui.cache", "_pinned_slot"), ("ui.cache", "_other_slot"), ("ui.tokens_cache", "get_tokenizer")}


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
    cache = sys.modules.get("ui.cache")
    if cache is not None:
        cache.RESULTS.clear()


@pytest.fixture(autouse=True)
def clean_caches():
    """Each page test starts from empty result caches, so none depends on another's prompts or order."""
    clear_results()
    yield
    clear_results()

"""Tests never touch the user's cache: each has its own XDG_CACHE_HOME; the real model's copy is per session."""

from __future__ import annotations

import os
from pathlib import Path

from core import weights_copy


def test_each_test_has_its_own_empty_cache_home(own_cache_home):
    assert Path(os.environ["XDG_CACHE_HOME"]) == own_cache_home
    assert weights_copy.cache_root() == own_cache_home / "llm-lens" / "models"
    assert list(own_cache_home.iterdir()) == []
    assert not weights_copy.cache_root().is_relative_to(Path.home() / ".cache")  # the default user cache
    (own_cache_home / "written-by-a-test").write_text("x")


def test_the_next_test_starts_empty_again(own_cache_home):
    assert not (own_cache_home / "written-by-a-test").exists() and list(own_cache_home.iterdir()) == []


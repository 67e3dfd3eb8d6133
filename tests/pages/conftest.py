"""Page-test fixtures: every test starts with Streamlit's caches and the byte budget empty (loaded models kept)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from page_kit import clear_results  # noqa: E402


@pytest.fixture(autouse=True)
def clean_caches():
    """Each page test starts from empty result caches, so none depends on another's prompts or order."""
    clear_results()
    yield
    clear_results()

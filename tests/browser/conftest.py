"""A real Streamlit server on a free port and a headless system Chromium driven by Playwright."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser_kit import new_tab  # noqa: E402
from server_kit import running_server, server_env  # noqa: E402


@pytest.fixture(scope="session")
def server_url(tmp_path_factory, real_model_cache):
    """Start the app as `make run` does (`python -m ui.warm_start`: the default model preloads) on the real
    default model (the session's model cache); yield its base URL."""
    log = tmp_path_factory.mktemp("server") / "streamlit.log"
    with running_server(["-m", "ui.warm_start"], log, server_env(real_model_cache)) as url:
        yield url


@pytest.fixture
def page(browser):
    """A fresh tab that records dialogs, page errors and console errors for the test to check."""
    tab = new_tab(browser)
    yield tab
    tab.context.close()

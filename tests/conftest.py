"""Shared fixtures: tiny random models saved as folders, the real bundled models (slow), and cache folders.

No test reads or writes the user's cache: every test gets its own XDG_CACHE_HOME. The real SmolLM2's
float32 safetensors copy lives in one folder per test session (`real_model_cache`), shared by the slow
tests and the browser tests' server. It is copied from the user's own converted copy when one exists
(read only, a few seconds) and otherwise converted from the GGUF once per session (about 25 s).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Before anything imports core or starts a process: the user's cache home, then one of our own.
USER_CACHE_HOME = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
SESSION_DIR = Path(tempfile.mkdtemp(prefix="llm-lens-tests-"))
os.environ["XDG_CACHE_HOME"] = str(SESSION_DIR / "import-time")

import tiny_models  # noqa: E402

import core  # noqa: E402
from core import models, weights_copy  # noqa: E402


@contextlib.contextmanager
def cache_home(folder: Path):
    """XDG_CACHE_HOME set to folder inside the block (for session fixtures, which cannot use monkeypatch)."""
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(folder)
    try:
        yield folder
    finally:
        if before is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture(autouse=True)
def own_cache_home(tmp_path_factory, monkeypatch) -> Path:
    """Every test runs with a cache home of its own, empty at the start."""
    folder = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    return folder


@pytest.fixture(scope="session")
def real_model_cache() -> Path:
    """A cache home holding the real SmolLM2's safetensors copy, made once per session."""
    home = SESSION_DIR / "real-models"
    gguf = models.bundled_path(models.BUNDLED[models.DEFAULT_MODEL])
    with cache_home(home):
        target = weights_copy.cache_dir_for(gguf)
    with cache_home(USER_CACHE_HOME):
        users = weights_copy.cache_dir_for(gguf)
    if not target.exists() and (users / "model.safetensors").exists():
        shutil.copytree(users, target)  # read only on the user's side; a corrupt copy is rebuilt on load
    if not target.exists():
        with cache_home(home):
            weights_copy.load_gguf_cached(gguf, lambda fraction, message: None)  # converts, saves, then freed
    return home


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tiny-models")


@pytest.fixture(scope="session")
def tiny_llama_path(tiny_dir) -> Path:
    return tiny_models.tiny_llama(tiny_dir / "tiny-llama")


@pytest.fixture(scope="session")
def tiny_gpt2_path(tiny_dir) -> Path:
    return tiny_models.tiny_gpt2(tiny_dir / "tiny-gpt2")


@pytest.fixture(scope="session")
def tiny_bert_path(tiny_dir) -> Path:
    return tiny_models.tiny_bert(tiny_dir / "tiny-bert")


@pytest.fixture(scope="session")
def tiny_llama(tiny_llama_path) -> core.LoadedModel:
    return core.load_model(str(tiny_llama_path))


@pytest.fixture(scope="session")
def tiny_gpt2(tiny_gpt2_path) -> core.LoadedModel:
    return core.load_model(str(tiny_gpt2_path))


@pytest.fixture(scope="session")
def tiny_bert(tiny_bert_path) -> core.LoadedModel:
    return core.load_model(str(tiny_bert_path))


@pytest.fixture(params=["tiny_llama", "tiny_gpt2"])
def tiny_decoder(request) -> core.LoadedModel:
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="session")
def smollm2(real_model_cache) -> core.LoadedModel:
    with cache_home(real_model_cache):
        return core.load_model("SmolLM2-135M-Instruct")


@pytest.fixture(scope="session")
def minilm() -> core.LoadedModel:
    return core.load_model("all-MiniLM-L6-v2")  # a plain folder inside its package: no cache involved


@pytest.fixture
def app_env(tiny_llama_path, monkeypatch):
    """Run AppTest pages on the tiny Llama so page tests are fast and offline."""
    monkeypatch.setenv("LLM_LENS_MODEL", str(tiny_llama_path))
    monkeypatch.chdir(ROOT)
    return tiny_llama_path


@pytest.fixture
def make_app(app_env):
    """An AppTest of the whole app (page list, sidebar) on the tiny Llama; switch_page to a page."""
    from streamlit.testing.v1 import AppTest

    return lambda: AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)


def pytest_collection_modifyitems(items):
    for item in items:
        if "browser" in item.path.parts:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(SESSION_DIR, ignore_errors=True)


os.environ.setdefault("HF_HUB_OFFLINE", "1")


# One Playwright for the whole run: a second sync_playwright() in the same process fails
# ("Sync API inside the asyncio loop"), so browser tests in any folder share this one.
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("Chromium is not installed: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()

"""Shared fixtures: tiny random models saved as folders, and the real bundled models (slow)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import tiny_models  # noqa: E402

import core  # noqa: E402


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
def smollm2() -> core.LoadedModel:
    return core.load_model("SmolLM2-135M-Instruct")


@pytest.fixture(scope="session")
def minilm() -> core.LoadedModel:
    return core.load_model("all-MiniLM-L6-v2")


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


os.environ.setdefault("HF_HUB_OFFLINE", "1")

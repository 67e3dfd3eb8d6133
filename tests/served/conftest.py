"""Fixtures: one real `transformers serve` of the bundled SmolLM2 per session, and the stub (see remote_kit)."""

from __future__ import annotations

import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from remote_kit import Stub, model_folder, start_server, stop_server  # noqa: E402


@pytest.fixture(scope="session")
def served_folder(real_model_cache) -> Path:
    """The SmolLM2 safetensors folder the tests' own cache holds (never the user's)."""
    return model_folder(real_model_cache)


@pytest.fixture(scope="session")
def served(tmp_path_factory, served_folder):
    """(base URL, model id) of a real transformers serve, stopped at the end of the session."""
    process, base, model = start_server(tmp_path_factory.mktemp("serve") / "serve.log", served_folder)
    try:
        yield base, model
    finally:
        stop_server(process)


@pytest.fixture(scope="session")
def stub_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()

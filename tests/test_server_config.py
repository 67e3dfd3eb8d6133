"""The classroom server settings in .streamlit/config.toml that the load benchmark depends on."""

from __future__ import annotations

import tomllib
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"


def test_no_full_garbage_collection_after_every_run():
    # gc.collect(2) after each script run held the GIL for a third of the time with 20 sessions.
    assert tomllib.loads(CONFIG.read_text())["runner"]["postScriptGC"] is False


def test_no_file_watcher_on_the_server():
    assert tomllib.loads(CONFIG.read_text())["server"]["fileWatcherType"] == "none"

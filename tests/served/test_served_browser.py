"""In Chromium: pick the endpoint configured for a real `transformers serve`, press Compare, see three answers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect
from remote_kit import free_port

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from browser_kit import assert_no_exception, new_tab, open_app, wait_idle  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def app_url(served, tmp_path_factory):
    """Streamlit with LLM_LENS_ENDPOINTS naming the test server."""
    base, _ = served
    port, log = free_port(), tmp_path_factory.mktemp("app") / "streamlit.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LLM_LENS_ENDPOINTS": json.dumps({"test-serve": base})}
    env.pop("LLM_LENS_MODEL", None)
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
               "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none"]
    with log.open("w") as sink:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(log.read_text()[-3000:]) from None
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:  # a stream still draining: do not leave the server behind
            process.kill()
            process.wait()


def test_pick_endpoint_press_compare_see_three_answers(app_url, served, browser, tmp_path):
    page = new_tab(browser)
    try:
        open_app(page, f"{app_url}/prompting", timeout_ms=300_000)
        page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(
            has_text="Backend").click()
        page.get_by_role("option", name="test-serve").click()
        wait_idle(page, timeout_ms=300_000)
        page.get_by_role("button", name="Compare").click()
        wait_idle(page, timeout_ms=300_000)
        answers = page.locator('[data-testid="stMetric"]').filter(has_text=re.compile(r"^Answer"))
        expect(answers).to_have_count(3, timeout=300_000)
        expect(page.get_by_text("Answered by")).to_have_count(1)
        expect(page.get_by_text("returned no token log-probabilities")).to_have_count(3)
        page.screenshot(path=str(tmp_path / "served.png"), full_page=True)
        assert_no_exception(page)
    finally:
        page.context.close()

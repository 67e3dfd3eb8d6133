"""Helpers for browser tests: wait for Streamlit to be idle, check for exceptions."""

IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def open_app(page, url: str, timeout_ms: int = 120_000) -> None:
    """Navigate and wait until the script has finished running."""
    page.goto(url)
    page.wait_for_selector(IDLE, timeout=timeout_ms)


def wait_idle(page, timeout_ms: int = 120_000) -> None:
    """Wait for the rerun a widget change starts to finish."""
    page.wait_for_timeout(300)
    page.wait_for_selector(IDLE, timeout=timeout_ms)


def assert_no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.inner_text("body")[:2000]

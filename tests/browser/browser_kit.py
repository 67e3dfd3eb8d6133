"""Helpers for browser tests: wait for Streamlit's reruns to finish, check for exceptions."""

import contextlib

from playwright.sync_api import TimeoutError as PlaywrightTimeout

IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# Counts the script runs the page has seen start (notRunning → anything else), however fast they are,
# so a wait after an action can tell "the rerun it caused has finished" from "it has not begun yet".
_COUNT_RUNS = """
(() => {
  if (window.__llmLensRuns !== undefined) return;
  window.__llmLensRuns = 0;
  let last = null;
  const look = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    const state = app && app.getAttribute("data-test-script-state");
    if (!state || state === last) return;
    if (last === "notRunning") window.__llmLensRuns += 1;
    last = state;
  };
  new MutationObserver(look).observe(document, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["data-test-script-state"],
  });
})();
"""


def open_app(page, url: str, timeout_ms: int = 120_000) -> None:
    """Navigate and wait until the script has finished running."""
    page.add_init_script(_COUNT_RUNS)
    page.goto(url)
    page.wait_for_selector(IDLE, timeout=timeout_ms)
    page.runs_seen = page.evaluate("window.__llmLensRuns")


def wait_idle(page, timeout_ms: int = 120_000, rerun: bool = True) -> None:
    """Wait until the rerun that the last action started has finished (rerun=False: just until idle).

    Every action that changes a widget starts a rerun; this waits for one to have started since the
    previous wait and for the app to be idle again, instead of sleeping and hoping it has begun.
    """
    if rerun:
        seen = getattr(page, "runs_seen", 0)
        # The observer can miss a rerun that starts and ends between two of its callbacks (a fast
        # rerun under load); after 15 s without one, an idle app is taken as done.
        with contextlib.suppress(PlaywrightTimeout):
            page.wait_for_function(
                "([seen, idle]) => window.__llmLensRuns > seen && document.querySelector(idle) !== null",
                arg=[seen, IDLE], timeout=min(timeout_ms, 15_000),
            )
    page.wait_for_selector(IDLE, timeout=timeout_ms)
    page.runs_seen = page.evaluate("window.__llmLensRuns")


def assert_no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.inner_text("body")[:2000]

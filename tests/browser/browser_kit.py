"""Helpers for browser tests: wait for Streamlit's reruns to finish, wait for text, check for exceptions.

Every assertion on page text waits for that text with Playwright's expect (which retries): the page's
idle state comes before its first run starts, and CI runs on a busy 2-core machine.
"""

import re
import time
from dataclasses import dataclass

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# A run that ended with the page's content in place (not one cut short by the next rerun).
_COMPLETED = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}
_POLL_MS = 25
# How long an expect waits for what it checks, unless the test names a longer wait (a model run).
EXPECT_MS = 60_000
expect.set_options(timeout=EXPECT_MS)


@dataclass
class _Runs:
    """What the page's websocket has carried, in order: rerun requests sent, runs started and finished.

    Streamlit sends one message per frame, starts every run with `new_session` and ends it with
    `script_finished`, so this sees every rerun however fast it is (the page's DOM state can skip one
    that starts and ends between two renders) and sees a second rerun that one action caused (a text
    box committing on blur, then the button click). A run's `script_finished` can be dropped when the
    next run starts before it was sent (the server clears its outgoing queue), so only the order of
    the last request, start and finish counts, not their numbers.
    """

    events: int = 0
    last_request: int = -1
    last_start: int = -1
    last_finish: int = -1
    completed: int = 0

    def on_sent(self, payload) -> None:
        message = _parse(BackMsg, payload)
        if message is not None and message.WhichOneof("type") == "rerun_script":
            self.events += 1
            self.last_request = self.events

    def on_received(self, payload) -> None:
        message = _parse(ForwardMsg, payload)
        kind = message.WhichOneof("type") if message is not None else None
        if kind == "new_session":
            self.events += 1
            self.last_start = self.events
        elif kind == "script_finished":
            self.events += 1
            self.last_finish = self.events
            self.completed += message.script_finished in _COMPLETED

    def settled(self) -> bool:
        """The last rerun requested has started, and the last run started has finished."""
        return self.last_finish > self.last_start >= self.last_request


def _parse(kind, payload):
    if not isinstance(payload, bytes):
        return None
    message = kind()
    try:
        message.ParseFromString(payload)
    except Exception:  # noqa: BLE001 - a frame that is not a Streamlit message counts for nothing
        return None
    return message


def _runs(page) -> _Runs:
    if not hasattr(page, "runs"):
        page.runs = _Runs()
        page.on("websocket", lambda socket: (
            socket.on("framesent", page.runs.on_sent), socket.on("framereceived", page.runs.on_received)))
    return page.runs


def _wait_settled(page, completed_after: int, timeout_ms: int) -> None:
    runs = _runs(page)
    deadline = time.monotonic() + timeout_ms / 1000
    while runs.completed <= completed_after or not runs.settled():
        if time.monotonic() > deadline:
            raise PlaywrightTimeout(f"the page's reruns did not finish within {timeout_ms} ms: {runs}")
        page.wait_for_timeout(_POLL_MS)  # lets Playwright deliver the websocket events
    page.wait_for_selector(IDLE, timeout=timeout_ms)
    page.runs_seen = runs.completed


def open_app(page, url: str, timeout_ms: int = 120_000) -> None:
    """Navigate and wait until the page's first script run has finished."""
    seen = _runs(page).completed
    page.goto(url)
    _wait_settled(page, seen, timeout_ms)


def wait_idle(page, timeout_ms: int = 120_000, rerun: bool = True) -> None:
    """Wait until the reruns that the last action started have finished (rerun=False: none expected).

    Every action that changes a widget starts a rerun; this waits for one to have finished since the
    previous wait, and for no other to be pending, instead of sleeping and hoping it has begun.
    """
    seen = getattr(page, "runs_seen", 0) if rerun else -1
    _wait_settled(page, seen, timeout_ms)


def set_prompt(page, text: str, timeout_ms: int = 120_000) -> None:
    """Type a new prompt into the page's Prompt box and wait for the rerun it starts."""
    box = page.get_by_role("textbox", name="Prompt")
    box.fill(text)
    box.press("Control+Enter")
    wait_idle(page, timeout_ms)


def open_tab(page, name: str, timeout_ms: int = 120_000) -> None:
    """Click a tab (the app's tabs rerun the page) and wait for that rerun."""
    page.get_by_role("tab", name=name).click()
    wait_idle(page, timeout_ms)


def new_tab(browser, width: int = 1400, height: int = 1800):
    """A tab in a fresh browser context (no shared cookies or session) that records dialogs and errors.

    Its actions (click, fill, wait_for) wait EXPECT_MS by default, not Playwright's 30 s: on a busy machine
    a page's last sections can take that long to render. Close it with `tab.context.close()`.
    """
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(EXPECT_MS)
    tab = context.new_page()
    tab.dialogs, tab.errors = [], []
    tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    tab.on("console", lambda msg: msg.type == "error" and tab.errors.append(msg.text))
    return tab


def open_via_nav(page, server_url: str, link: str, ready: str, timeout_ms: int = 120_000) -> None:
    """Open the app's root, click `link` in the sidebar, wait for that run and for `ready` to show.

    Starts at the root and clicks through: a deep link makes Streamlit probe <page>/_stcore/ (a 404).
    """
    open_app(page, server_url, timeout_ms)
    page.locator('[data-testid="stSidebarNav"] a', has_text=link).click()
    wait_idle(page, timeout_ms)
    expect(page.locator(ready).first).to_be_visible(timeout=timeout_ms)


def expect_each_shown(locator, *texts: str, timeout_ms: int = EXPECT_MS) -> None:
    """Wait until, for each text, one of locator's elements contains it (case-sensitive)."""
    for text in texts:
        expect(locator.filter(has_text=re.compile(re.escape(text)))).not_to_have_count(0, timeout=timeout_ms)


def unbroken(text: str, before: str = "", after: str = "") -> re.Pattern:
    """A regex of text that allows a line break between any two of its characters (chips and links wrap).

    before and after are regex fragments around it (e.g. "^" and "$" for the whole text).
    """
    return re.compile(before + r"\s?".join(re.escape(char) for char in text) + after)


def assert_no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.inner_text("body")[:2000]

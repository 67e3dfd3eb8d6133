"""Share links, the Copy link button and presenter mode in a real browser on the real model."""

from __future__ import annotations

import re

import pytest
from browser_kit import assert_no_exception, open_app, open_tab, set_prompt, wait_idle
from playwright.sync_api import expect

SLOW = 240_000  # a shared machine: the model and generation can be many times slower than alone
CHART = '[data-testid="stPlotlyChart"]'
PROMPT = "The animal didn't cross the street because it was tired. </script><b>bold</b> 🐾"


@pytest.fixture
def fresh(browser):
    """A second browser context: no cookies, storage or session shared with the first."""
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    tab = context.new_page()
    tab.dialogs = []
    tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
    yield tab
    context.close()


def _choose(page, label: str, option: str) -> None:
    page.get_by_role("combobox", name=label).click()
    page.keyboard.type(option)  # the option list is virtual: type to bring the option into view
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page, SLOW)


def _copied_link(page) -> str:
    """Press the sidebar's Copy link button and read the clipboard; it matches the link shown."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    frame = page.frame_locator('[data-testid="stSidebar"] [data-testid="stIFrame"]')
    frame.get_by_role("button", name="📋 Copy link").click()
    frame.get_by_role("button", name="✅ Copied").wait_for(timeout=10_000)
    link = page.evaluate("navigator.clipboard.readText()")
    page.get_by_text("Show the link").click()
    shown = page.locator('[data-testid="stSidebar"] [data-testid="stCode"]').inner_text().replace("\n", "")
    assert link == shown and link == page.url, (link, shown, page.url)
    return link


# A restored page's widgets can take their values a render after its run has finished: wait for them
# (Playwright's expect retries) instead of reading once.
def _expect_value(page, role: str, name: str, value: str | re.Pattern) -> None:
    expect(page.get_by_role(role, name=name)).to_have_value(value, timeout=10_000)


def _expect_tab(page, name: str) -> None:
    expect(page.locator('[role="tab"][aria-selected="true"]')).to_have_text(name, timeout=10_000)


def test_attention_view_opens_the_same_in_a_fresh_browser(page, fresh, server_url):
    open_app(page, f"{server_url}/attention", SLOW)
    page.wait_for_selector(CHART, timeout=SLOW)
    set_prompt(page, PROMPT, SLOW)
    _choose(page, "Layer", "layer 13")
    _choose(page, "Head", "head 8")
    open_tab(page, "From one token", SLOW)
    link = _copied_link(page)
    assert "/attention?" in link and "attn_layer=13" in link and "s=" in link

    open_app(fresh, link, SLOW)
    fresh.wait_for_selector('[data-testid="stHtml"]', timeout=SLOW)
    _expect_value(fresh, "textbox", "Prompt", PROMPT)
    _expect_value(fresh, "combobox", "Layer", "layer 13")
    _expect_value(fresh, "combobox", "Head", "head 8")
    _expect_tab(fresh, "From one token")
    assert "Layer 13, head 8" in fresh.locator('[data-testid="stCaptionContainer"]', has_text="darker").inner_text()
    assert fresh.locator("b", has_text="bold").count() == 0 and fresh.dialogs == []
    assert_no_exception(fresh)


def test_generation_settings_open_the_same(page, fresh, server_url):
    open_app(page, f"{server_url}/generation", SLOW)
    page.wait_for_selector(CHART, timeout=SLOW)
    set_prompt(page, "Once upon a time", SLOW)
    page.get_by_text("Sample (instead of greedy)").click()
    wait_idle(page, SLOW)
    seed = page.get_by_role("spinbutton", name="Seed")
    seed.fill("42")
    seed.press("Enter")
    wait_idle(page, SLOW)
    open_tab(page, "Settings on the same logits", SLOW)
    link = _copied_link(page)

    open_app(fresh, link, SLOW)
    fresh.wait_for_selector(CHART, timeout=SLOW)
    _expect_value(fresh, "textbox", "Prompt", "Once upon a time")
    _expect_value(fresh, "spinbutton", "Seed", "42")
    expect(fresh.get_by_role("switch", name="Sample (instead of greedy)")).to_be_checked(timeout=10_000)
    _expect_tab(fresh, "Settings on the same logits")
    assert_no_exception(fresh)


def test_prompt_strategies_task_opens_the_same(page, fresh, server_url):
    open_app(page, f"{server_url}/prompting", SLOW)
    page.wait_for_selector(".llm-lens-chips", timeout=SLOW)
    _choose(page, "Task preset", "News topic")
    page.wait_for_selector(".llm-lens-chips", timeout=SLOW)
    page.get_by_label("Query (the text to classify)").fill("Bank raises interest rates again")
    page.get_by_role("button", name="Compare").click()
    wait_idle(page, SLOW)
    page.wait_for_selector(".llm-lens-chips", timeout=SLOW)
    link = _copied_link(page)

    open_app(fresh, link, SLOW)
    fresh.wait_for_selector(".llm-lens-chips", timeout=SLOW)
    _expect_value(fresh, "combobox", "Task preset", "News topic")
    expect(fresh.get_by_label("Query (the text to classify)")).to_have_value(
        "Bank raises interest rates again", timeout=10_000)
    assert_no_exception(fresh)


def test_a_tampered_link_shows_a_notice_and_the_defaults(page, server_url):
    link = (f"{server_url}/attention?attn_layer=99&attn_tab=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
            "&model=no-such-model&s=%3Cimg%20src%3Dx%20onerror%3Dalert(2)%3E")
    open_app(page, link, SLOW)
    page.wait_for_selector(CHART, timeout=SLOW)
    notices = " ".join(page.locator('[data-testid="stAlert"]').all_inner_texts())
    assert "could not be used" in notices and "attn_tab" in notices and "model" in notices, notices
    assert "layer 99" in notices and "characters a link never produces" in notices, notices
    _expect_value(page, "combobox", "Layer", "layer 0")
    _expect_tab(page, "One head")
    _expect_value(page, "textbox", "Prompt", re.compile(r"^The capital of France"))
    assert page.locator("img[src='x']").count() == 0 and page.dialogs == []
    assert "attn_layer" not in page.url and "model=" not in page.url  # the URL now holds what is shown
    assert_no_exception(page)


def _look(page) -> tuple[float, float]:
    text = page.locator('[data-testid="stMain"] [data-testid="stMarkdownContainer"] p').first
    size = float(text.evaluate("e => getComputedStyle(e).fontSize").removesuffix("px"))
    return size, page.locator(CHART).first.bounding_box()["height"]


def test_presenter_mode_enlarges_text_and_charts(page, server_url):
    open_app(page, f"{server_url}/attention", SLOW)
    page.wait_for_selector(f"{CHART} .main-svg", timeout=SLOW)
    size, height = _look(page)
    assert page.locator('[data-testid="stSidebar"]').get_attribute("data-collapsed") == "false"
    page.get_by_text("Presenter mode").click()
    wait_idle(page, SLOW)
    page.wait_for_selector(f"{CHART} .main-svg", timeout=SLOW)
    bigger, taller = _look(page)
    assert bigger >= size * 1.3 and taller >= height * 1.4, (size, bigger, height, taller)
    assert "present=1" in page.url
    page.get_by_text("About this page").wait_for()  # the intro folded into an expander

    open_app(page, page.url, SLOW)  # a presenter's link opens presenting, with the sidebar closed
    page.wait_for_selector(f"{CHART} .main-svg", timeout=SLOW)
    expect(page.locator('[data-testid="stMain"] [data-testid="stMarkdownContainer"] p').first).to_have_css(
        "font-size", f"{bigger:g}px", timeout=10_000)
    expect(page.locator('[data-testid="stSidebar"]')).to_have_attribute("data-collapsed", "true", timeout=10_000)
    # Clean chrome (.streamlit/config.toml): no Deploy button and no developer menu, even on localhost.
    assert page.get_by_role("button", name="Deploy").count() == 0
    assert page.locator('[data-testid="stMainMenu"]').count() == 0

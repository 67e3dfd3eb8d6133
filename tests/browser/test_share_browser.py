"""Share links, the Copy link button and presenter mode in a real browser on the real model."""

from __future__ import annotations

import re

import pytest
from browser_kit import assert_no_exception, new_tab, open_app, open_tab, set_prompt, unbroken, wait_idle
from playwright.sync_api import expect

SLOW = 240_000  # a shared machine: the model and generation can be many times slower than alone
CHART = '[data-testid="stPlotlyChart"]'
PROMPT = "The animal didn't cross the street because it was tired. </script><b>bold</b> 🐾"


@pytest.fixture
def fresh(browser):
    """A second browser context: no cookies, storage or session shared with the first."""
    tab = new_tab(browser)
    yield tab
    tab.context.close()


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
    expect(frame.get_by_role("button", name="✅ Copied")).to_be_visible()
    link = page.evaluate("navigator.clipboard.readText()")
    page.get_by_text("Show the link").click()
    expect(page.locator('[data-testid="stSidebar"] [data-testid="stCode"]')).to_have_text(
        unbroken(link, "^", "$"), use_inner_text=True)  # the link shown, however it wraps
    assert link == page.url, (link, page.url)
    return link


# A restored page's widgets can take their values a render after its run has finished: wait for them
# (Playwright's expect retries) instead of reading once.
def _expect_value(page, role: str, name: str, value: str | re.Pattern) -> None:
    expect(page.get_by_role(role, name=name)).to_have_value(value)


def _expect_tab(page, name: str) -> None:
    expect(page.locator('[role="tab"][aria-selected="true"]')).to_have_text(name)


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
    expect(fresh.locator('[data-testid="stCaptionContainer"]', has_text="darker")).to_contain_text("Layer 13, head 8")
    expect(fresh.locator("b", has_text="bold")).to_have_count(0)
    assert fresh.dialogs == []
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
    expect(fresh.get_by_role("switch", name="Sample (instead of greedy)")).to_be_checked()
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
        "Bank raises interest rates again")
    assert_no_exception(fresh)


def test_a_tampered_link_shows_a_notice_and_the_defaults(page, server_url):
    link = (f"{server_url}/attention?attn_layer=99&attn_tab=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
            "&model=no-such-model&s=%3Cimg%20src%3Dx%20onerror%3Dalert(2)%3E")
    open_app(page, link, SLOW)
    page.wait_for_selector(CHART, timeout=SLOW)
    notices = page.locator('[data-testid="stAlert"]')
    for part in ("could not be used", "attn_tab", "model", "layer 99", "characters a link never produces"):
        expect(notices.filter(has_text=re.compile(re.escape(part)))).not_to_have_count(0)
    _expect_value(page, "combobox", "Layer", "layer 0")
    _expect_tab(page, "One head")
    _expect_value(page, "textbox", "Prompt", re.compile(r"^The capital of France"))
    expect(page.locator("img[src='x']")).to_have_count(0)
    assert page.dialogs == []
    assert "attn_layer" not in page.url and "model=" not in page.url  # the URL now holds what is shown
    assert_no_exception(page)


def _look(page) -> tuple[float, float]:
    text = page.locator('[data-testid="stMain"] [data-testid="stMarkdownContainer"] p').first
    size = float(text.evaluate("e => getComputedStyle(e).fontSize").removesuffix("px"))
    return size, page.locator(CHART).first.bounding_box()["height"]


def _wait_look(page, size: float, height: float) -> None:
    """Wait until the text and the first chart have grown to at least size px and height px (charts relayout)."""
    page.wait_for_function("""([size, height]) => {
        const text = document.querySelector('[data-testid="stMain"] [data-testid="stMarkdownContainer"] p');
        const chart = document.querySelector('[data-testid="stPlotlyChart"]');
        return text !== null && chart !== null && parseFloat(getComputedStyle(text).fontSize) >= size
            && chart.getBoundingClientRect().height >= height;
    }""", arg=[size, height], timeout=SLOW)


def test_presenter_mode_enlarges_text_and_charts(page, server_url):
    open_app(page, f"{server_url}/attention", SLOW)
    page.wait_for_selector(f"{CHART} .main-svg", timeout=SLOW)
    size, height = _look(page)
    assert page.locator('[data-testid="stSidebar"]').get_attribute("data-collapsed") == "false"
    page.get_by_text("Presenter mode").click()
    wait_idle(page, SLOW)
    page.wait_for_selector(f"{CHART} .main-svg", timeout=SLOW)
    _wait_look(page, size * 1.3, height * 1.4)
    bigger, taller = _look(page)
    assert bigger >= size * 1.3 and taller >= height * 1.4, (size, bigger, height, taller)
    assert "present=1" in page.url
    expect(page.get_by_text("About this page")).to_be_visible()  # the intro folded into an expander

    open_app(page, page.url, SLOW)  # a presenter's link opens presenting, with the sidebar closed
    page.wait_for_selector(f"{CHART} .main-svg", timeout=SLOW)
    expect(page.locator('[data-testid="stMain"] [data-testid="stMarkdownContainer"] p').first).to_have_css(
        "font-size", f"{bigger:g}px")
    expect(page.locator('[data-testid="stSidebar"]')).to_have_attribute("data-collapsed", "true")
    # Clean chrome (.streamlit/config.toml): no Deploy button and no developer menu, even on localhost.
    expect(page.get_by_role("button", name="Deploy")).to_have_count(0)
    expect(page.locator('[data-testid="stMainMenu"]')).to_have_count(0)

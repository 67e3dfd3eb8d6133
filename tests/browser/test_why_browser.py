"""The Why this token? page in a real browser on the real model: every tab draws, hostile text stays text."""

import re

from browser_kit import assert_no_exception, open_tab, open_via_nav, set_prompt, wait_idle
from playwright.sync_api import expect

HOSTILE = "<img src=x onerror=alert(1)></script><script>alert(2)</script> The capital of France is"
CHART = '[data-testid="stPlotlyChart"]'
# The tags as visible text: each space shown as · or as a space, chips may wrap between characters.
SHOWN_TAG = re.compile(r"\s?".join("[·\\s]" if char == " " else re.escape(char)
                                   for char in "<img src=x onerror=alert(1)>"))
SLOW = 300_000  # the machine may be shared: scans can be many times slower than alone


def test_every_tab_draws_on_the_real_model(page, server_url):
    open_via_nav(page, server_url, "Why this token?", CHART, SLOW)
    page.get_by_text("Completeness error", exact=True).wait_for(timeout=SLOW)
    # The default view's integral converges within the cap: the page says how, and warns of nothing.
    expect(page.get_by_text("Integrated gradients converged with 64 steps (tried 32, 64)")).to_be_visible()
    expect(page.get_by_text("has not converged")).to_have_count(0)
    for tab, wait_for in [("Why A rather than B", "Completeness error"),
                          ("Direct logit attribution", "Residual"),
                          ("Ablate heads", "Scan every head"),
                          ("Induction heads", "Top induction heads")]:
        open_tab(page, tab, SLOW)
        page.get_by_text(wait_for).first.wait_for(timeout=SLOW)
        expect(page.locator(CHART), tab).not_to_have_count(0)
    open_tab(page, "Activation patching", SLOW)
    page.get_by_role("button", name="Run patching").click()
    wait_idle(page, SLOW)
    page.get_by_text("Restored share").wait_for(timeout=SLOW)
    expect(page.locator(CHART)).not_to_have_count(0)
    assert_no_exception(page)
    assert page.dialogs == [] and page.errors == []


def test_hostile_prompt_shows_as_text(page, server_url):
    open_via_nav(page, server_url, "Why this token?", CHART, SLOW)
    set_prompt(page, HOSTILE, SLOW)
    page.get_by_text("Completeness error", exact=True).wait_for(timeout=SLOW)
    shaded = page.locator('[data-testid="stHtml"]').first
    expect(shaded).to_contain_text(SHOWN_TAG, use_inner_text=True)
    expect(page.locator('[data-testid="stHtml"] img')).to_have_count(0)
    assert_no_exception(page)
    assert page.dialogs == [] and page.errors == []

"""The Why this token? page in a real browser on the real model: every tab draws, hostile text stays text."""

from browser_kit import assert_no_exception, open_app, open_tab, set_prompt, wait_idle
from playwright.sync_api import expect

HOSTILE = "<img src=x onerror=alert(1)></script><script>alert(2)</script> The capital of France is"
CHART = '[data-testid="stPlotlyChart"]'
SLOW = 300_000  # the machine may be shared: scans can be many times slower than alone


def _open_why(page, server_url) -> None:
    # Start at the root and click through: a deep link makes Streamlit probe <page>/_stcore/ (a 404).
    open_app(page, server_url)
    page.locator('[data-testid="stSidebarNav"] a', has_text="Why this token?").click()
    wait_idle(page, SLOW)
    page.wait_for_selector(CHART, timeout=SLOW)


def test_every_tab_draws_on_the_real_model(page, server_url):
    _open_why(page, server_url)
    page.get_by_text("Completeness error", exact=True).wait_for(timeout=SLOW)
    # The default view's integral converges within the cap: the page says how, and warns of nothing.
    expect(page.get_by_text("Integrated gradients converged with 64 steps (tried 32, 64)")).to_be_visible()
    assert "has not converged" not in " ".join(page.locator('[data-testid="stAlert"]').all_inner_texts())
    for tab, wait_for in [("Why A rather than B", "Completeness error"),
                          ("Direct logit attribution", "Residual"),
                          ("Ablate heads", "Scan every head"),
                          ("Induction heads", "Top induction heads")]:
        open_tab(page, tab, SLOW)
        page.get_by_text(wait_for).first.wait_for(timeout=SLOW)
        assert page.locator(CHART).count() >= 1, tab
    open_tab(page, "Activation patching", SLOW)
    page.get_by_role("button", name="Run patching").click()
    wait_idle(page, SLOW)
    page.get_by_text("Restored share").wait_for(timeout=SLOW)
    assert page.locator(CHART).count() >= 1
    assert_no_exception(page)
    assert page.dialogs == [] and page.errors == []


def test_hostile_prompt_shows_as_text(page, server_url):
    _open_why(page, server_url)
    set_prompt(page, HOSTILE, SLOW)
    page.get_by_text("Completeness error", exact=True).wait_for(timeout=SLOW)
    shaded = page.locator('[data-testid="stHtml"]').first.inner_text().replace("\n", "")
    assert "<img src=x onerror=alert(1)>" in shaded.replace("·", " ")  # the tags as visible text
    assert page.locator('[data-testid="stHtml"] img').count() == 0
    assert_no_exception(page)
    assert page.dialogs == [] and page.errors == []

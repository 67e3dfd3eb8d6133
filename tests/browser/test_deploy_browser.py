"""The Deploy page in a real browser on the real model: every section measures and its chart draws."""

from browser_kit import assert_no_exception, open_app, open_tab, wait_idle
from playwright.sync_api import expect

CHART = '[data-testid="stPlotlyChart"]'
SLOW = 600_000  # every measurement is the median of several runs, on a machine that may be shared

SECTIONS = [  # (tab, button, charts once measured, text that says it finished)
    ("KV cache", "Decode with and without the cache", 2, "Same tokens both ways"),
    ("Prefill vs decode", "Measure prefill, decode and this machine's limits", 1, "Decode is bound by memory"),
    ("Batching", "Measure batch sizes", 1, "Every row decoded the same tokens"),
    ("Prefix caching", "Measure time to first token", 1, "Same first token"),
    ("Weight formats", "Build and measure each format", 1, "freed as soon as it is measured"),
    ("Capacity planner", "Measure the speeds to plan from", 1, "Assumptions"),
]


def test_every_section_draws_its_chart_on_the_real_model(page, server_url):
    # Start at the root and click through: a deep link makes Streamlit probe <page>/_stcore/ (a 404).
    open_app(page, server_url)
    page.locator('[data-testid="stSidebarNav"] a', has_text="Deploy").click()
    wait_idle(page, SLOW)
    expect(page.get_by_text("Formula, bytes per token")).to_be_visible(timeout=SLOW)
    expect(page.locator(CHART)).to_have_count(1, timeout=SLOW)  # the cache's growth, drawn without a button
    expect(page.get_by_text("46,080").first).to_be_visible()  # 2 × 30 layers × 3 KV heads × 64 × 4 bytes
    for tab, button, charts, done in SECTIONS:
        if tab != "KV cache":
            open_tab(page, tab, SLOW)
        page.get_by_role("button", name=button).click()
        expect(page.get_by_text(done).first).to_be_visible(timeout=SLOW)
        expect(page.locator(CHART)).to_have_count(charts, timeout=SLOW)
        assert_no_exception(page)
    assert page.dialogs == [] and page.errors == []

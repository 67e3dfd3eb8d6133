"""The Generation page in a real browser on the real model: charts drawn, a step adds a token, hostile text inert."""

from browser_kit import assert_no_exception, open_tab, open_via_nav, set_prompt, unbroken, wait_idle
from playwright.sync_api import expect

HOSTILE = "</script><script>alert(1)</script> <img src=x onerror=alert(1)> The capital of France is 👍🏽"
CHART = '[data-testid="stPlotlyChart"]'
SLOW = 240_000  # the machine may be shared: generation can be many times slower than alone


def test_distribution_chart_and_steps_with_a_hostile_prompt(page, server_url):
    open_via_nav(page, server_url, "Generation", CHART, SLOW)
    set_prompt(page, HOSTILE, SLOW)
    expect(page.locator(f"{CHART} .ytick")).to_have_count(10, timeout=SLOW)  # ten candidate bars, one tick each

    page.get_by_text("Sample (instead of greedy)").click()
    wait_idle(page, SLOW)
    open_tab(page, "Settings on the same logits", SLOW)
    chart = page.locator(CHART).first
    expect(chart).to_contain_text("Before", timeout=SLOW, use_inner_text=True)
    expect(chart).to_contain_text("tokens kept", use_inner_text=True)
    assert chart.bounding_box()["height"] > 300

    open_tab(page, "Step through", SLOW)
    page.get_by_role("button", name="Next token ▶").click()
    wait_idle(page, SLOW)
    page.get_by_text("Step 1 chose").wait_for(timeout=SLOW)
    # The prompt as text, not markup, plus the new token.
    shown = page.locator('[data-testid="stHtml"]').first
    expect(shown).to_have_text(unbroken("</script><script>alert(1)</script>", "^", ".+"),
                               use_inner_text=True)
    assert len(shown.inner_text().replace("\n", "")) > len(HOSTILE)  # read after the text above was waited for
    page.get_by_role("button", name="Next token ▶").click()
    wait_idle(page, SLOW)
    page.get_by_text("Step 2 chose").wait_for(timeout=SLOW)

    assert_no_exception(page)
    assert page.dialogs == []
    assert page.errors == []


def test_greedy_and_samples_stream_into_view(page, server_url):
    open_via_nav(page, server_url, "Generation", CHART, SLOW)
    page.get_by_role("spinbutton", name="Max new tokens").fill("3")
    page.get_by_role("spinbutton", name="Max new tokens").press("Enter")
    wait_idle(page, SLOW)
    open_tab(page, "Greedy vs sampling", SLOW)
    page.get_by_role("spinbutton", name="Samples").fill("2")
    page.get_by_role("spinbutton", name="Samples").press("Enter")
    wait_idle(page, SLOW)
    page.get_by_role("button", name="Generate").click()
    page.get_by_text("distinct").wait_for(timeout=SLOW)
    completions = page.locator('[data-testid="stHtml"]')
    # Greedy and two samples, each the prompt and its continuation; each says why it stopped.
    expect(completions).to_have_count(3, timeout=SLOW)
    expect(completions).to_contain_text(["The capital of Germany is"] * 3, use_inner_text=True)
    expect(page.get_by_text("finish: length")).to_have_count(3)
    assert_no_exception(page)
    assert page.dialogs == []
    assert page.errors == []

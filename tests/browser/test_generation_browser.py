"""The Generation page in a real browser on the real model: charts drawn, a step adds a token, hostile text inert."""

from browser_kit import assert_no_exception, open_app, open_tab, set_prompt, wait_idle

HOSTILE = "</script><script>alert(1)</script> <img src=x onerror=alert(1)> The capital of France is 👍🏽"
CHART = '[data-testid="stPlotlyChart"]'
SLOW = 240_000  # the machine may be shared: generation can be many times slower than alone


def _open_generation(page, server_url) -> None:
    # Start at the root and click through: a deep link makes Streamlit probe <page>/_stcore/ (a 404).
    open_app(page, server_url)
    page.locator('[data-testid="stSidebarNav"] a', has_text="Generation").click()
    wait_idle(page)
    page.wait_for_selector(CHART, timeout=SLOW)


def test_distribution_chart_and_steps_with_a_hostile_prompt(page, server_url):
    _open_generation(page, server_url)
    set_prompt(page, HOSTILE, SLOW)
    page.wait_for_selector(f"{CHART} .ytick", timeout=SLOW)
    assert page.locator(f"{CHART} .ytick").count() == 10  # ten candidate bars, one tick each

    page.get_by_text("Sample (instead of greedy)").click()
    wait_idle(page, SLOW)
    open_tab(page, "Settings on the same logits", SLOW)
    chart = page.locator(CHART).first
    chart.wait_for(timeout=SLOW)
    titles = chart.inner_text()
    assert "Before" in titles and "tokens kept" in titles
    assert chart.bounding_box()["height"] > 300

    open_tab(page, "Step through", SLOW)
    page.get_by_role("button", name="Next token ▶").click()
    wait_idle(page, SLOW)
    page.get_by_text("Step 1 chose").wait_for(timeout=SLOW)
    shown = page.locator('[data-testid="stHtml"]').first.inner_text().replace("\n", "")
    assert shown.startswith("</script><script>alert(1)</script>")  # the prompt as text, not markup
    assert len(shown) > len(HOSTILE)  # plus the new token
    page.get_by_role("button", name="Next token ▶").click()
    wait_idle(page, SLOW)
    page.get_by_text("Step 2 chose").wait_for(timeout=SLOW)

    assert_no_exception(page)
    assert page.dialogs == []
    assert page.errors == []


def test_greedy_and_samples_stream_into_view(page, server_url):
    _open_generation(page, server_url)
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
    assert completions.count() == 3  # greedy and two samples
    assert all("The capital of Germany is" in c for c in completions.all_inner_texts())
    assert page.get_by_text("finish: length").count() == 3
    assert_no_exception(page)
    assert page.dialogs == []
    assert page.errors == []

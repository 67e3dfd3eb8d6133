"""The attention page in a real browser on the real model: heatmap, offline bertviz, hostile prompts inert."""

from browser_kit import assert_no_exception, open_app, set_prompt, wait_idle

HOSTILE = "</script><script>alert(1)</script> <img src=x onerror=alert(1)> hi 👍🏽"
CHART = '[data-testid="stPlotlyChart"]'


def _ticks_once(page, word: str, seconds: float = 60) -> str:
    """The heatmap's y tick labels, once the rerun with the new prompt has drawn them."""
    for _ in range(int(seconds * 2)):
        ticks = " ".join(page.locator(f"{CHART} .ytick text").all_text_contents())
        if word in ticks:
            return ticks
        page.wait_for_timeout(500)
    raise AssertionError(f"{word!r} never appeared in the heatmap ticks: {ticks}")


def test_heatmap_then_offline_bertviz_with_a_hostile_prompt(page, server_url):
    # Start at the root and click through: a deep link makes Streamlit probe <page>/_stcore/ (a 404).
    open_app(page, server_url)
    page.locator('[data-testid="stSidebarNav"] a', has_text="Attention").click()
    wait_idle(page)
    page.wait_for_selector(CHART, timeout=120_000)
    set_prompt(page, HOSTILE)
    ticks = _ticks_once(page, "script")
    assert "<" in ticks and "img" in ticks  # tokens shown as text on the heatmap's axis
    assert_no_exception(page)

    page.get_by_role("tab", name="bertviz").click()
    wait_idle(page)
    frame = page.frame_locator('[data-testid="stMain"] [data-testid="stIFrame"]')
    frame.locator("svg").first.wait_for(timeout=60_000)  # d3 drew: require.js, jQuery, d3 all loaded offline
    words = " ".join(frame.locator("svg text").all_text_contents())
    assert "script" in words and "img" in words and "alert" in words
    assert frame.locator("img").count() == 0 and frame.locator("script", has_text="alert(1)").count() == 0
    height = page.locator('[data-testid="stMain"] [data-testid="stIFrame"]').bounding_box()["height"]
    assert height > 300  # sized to its content, not a default 150 px frame

    page.get_by_role("tab", name="All layers").click()
    wait_idle(page)
    plot = page.locator(f"{CHART} .nsewdrag").first
    plot.wait_for(timeout=60_000)
    box = plot.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.45)  # a thumbnail mid-mosaic
    wait_idle(page)
    assert page.locator('[role="tab"][aria-selected="true"]').inner_text() == "One head"
    title = page.locator(f"{CHART} .gtitle").first
    title.wait_for(timeout=60_000)
    assert title.text_content() != "Layer 0, head 0"  # the clicked head opened

    page.get_by_role("tab", name="From one token").click()
    wait_idle(page)
    shaded = page.locator('[data-testid="stHtml"]').first
    shaded.wait_for(timeout=60_000)
    assert "</script><script>alert(1)</script>" in shaded.inner_text().replace("\n", "")
    assert_no_exception(page)
    assert page.dialogs == []
    assert page.errors == []

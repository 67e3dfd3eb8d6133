"""The attention page in a real browser on the real model: heatmap, offline bertviz, hostile prompts inert."""

from browser_kit import (
    EXPECT_MS,
    assert_no_exception,
    expect_each_shown,
    open_via_nav,
    set_prompt,
    unbroken,
    wait_idle,
)
from playwright.sync_api import expect

HOSTILE = "</script><script>alert(1)</script> <img src=x onerror=alert(1)> hi 👍🏽"
CHART = '[data-testid="stPlotlyChart"]'
BERTVIZ = '[data-testid="stMain"] [data-testid="stIFrame"]'


def test_heatmap_then_offline_bertviz_with_a_hostile_prompt(page, server_url):
    open_via_nav(page, server_url, "Attention", CHART)
    set_prompt(page, HOSTILE)
    expect_each_shown(page.locator(f"{CHART} .ytick text"), "script", "<", "img")  # tokens as text on the axis
    assert_no_exception(page)

    page.get_by_role("tab", name="bertviz").click()
    wait_idle(page)
    frame = page.frame_locator(BERTVIZ)
    frame.locator("svg").first.wait_for(timeout=60_000)  # d3 drew: require.js, jQuery, d3 all loaded offline
    expect_each_shown(frame.locator("svg text"), "script", "img", "alert")
    expect(frame.locator("img")).to_have_count(0)
    expect(frame.locator("script", has_text="alert(1)")).to_have_count(0)
    # Sized to its content, not a default 150 px frame (the height follows the drawing: wait for it).
    page.wait_for_function("frame => frame.getBoundingClientRect().height > 300",
                           arg=page.locator(BERTVIZ).element_handle(), timeout=EXPECT_MS)

    page.get_by_role("tab", name="All layers").click()
    wait_idle(page)
    plot = page.locator(f"{CHART} .nsewdrag").first
    plot.wait_for(timeout=60_000)
    box = plot.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.45)  # a thumbnail mid-mosaic
    wait_idle(page)
    expect(page.locator('[role="tab"][aria-selected="true"]')).to_have_text("One head")
    title = page.locator(f"{CHART} .gtitle").first
    title.wait_for(timeout=60_000)
    expect(title).not_to_have_text("Layer 0, head 0")  # the clicked head opened

    page.get_by_role("tab", name="From one token").click()
    wait_idle(page)
    shaded = page.locator('[data-testid="stHtml"]').first
    expect(shaded).to_contain_text(unbroken("</script><script>alert(1)</script>"), use_inner_text=True)
    assert_no_exception(page)
    assert page.dialogs == []
    assert page.errors == []

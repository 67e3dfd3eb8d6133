"""Plotly labels on the real server show hostile text literally: <b> and <a href> never become markup."""

from browser_kit import assert_no_exception, open_app, wait_idle

SENTENCES = "<b>x</b> bold\n<a href='http://e.co'>y</a>\nplain words"


def test_tags_in_sentences_show_literally_in_chart_tick_labels(page, server_url):
    open_app(page, f"{server_url}/embeddings")
    box = page.get_by_role("textbox", name="Sentences, one per line", exact=True)
    box.scroll_into_view_if_needed()
    box.fill(SENTENCES)
    box.press("Control+Enter")
    wait_idle(page)
    charts = page.locator(".js-plotly-plot")
    charts.last.scroll_into_view_if_needed()
    wait_idle(page, rerun=False)  # scrolling starts no rerun
    ticks = [t for i in range(charts.count()) for t in charts.nth(i).locator(".xtick text").all_text_contents()]
    assert "0:<b>x</b> bold" in ticks, ticks  # the tags are characters of the label
    assert "1:<a href='http://e.co'>y</a>" in ticks, ticks
    # Had plotly read them as markup, the tick would say "0:x bold" in a bold tspan, and link to e.co.
    assert "0:x bold" not in ticks
    assert page.locator(".js-plotly-plot a[href*='e.co']").count() == 0
    assert page.locator(".js-plotly-plot .xtick tspan[style*='bold']").count() == 0
    assert_no_exception(page)
    assert page.dialogs == []

"""Plotly labels on the real server show hostile text literally: <b> and <a href> never become markup."""

import re

from browser_kit import assert_no_exception, open_app, wait_idle
from playwright.sync_api import expect

SLOW = 240_000
SENTENCES = "<b>x</b> bold\n<a href='http://e.co'>y</a>\nplain words"


def _tick(text: str) -> re.Pattern:
    return re.compile(f"^{re.escape(text)}$")


def test_tags_in_sentences_show_literally_in_chart_tick_labels(page, server_url):
    open_app(page, f"{server_url}/embeddings")
    box = page.get_by_role("textbox", name="Sentences, one per line", exact=True)
    # The page's last section: on a busy machine the charts above it can take a minute or more to render.
    expect(box).to_be_attached(timeout=SLOW)
    box.scroll_into_view_if_needed()
    box.fill(SENTENCES)
    box.press("Control+Enter")
    wait_idle(page)
    charts = page.locator(".js-plotly-plot")
    charts.last.scroll_into_view_if_needed()
    wait_idle(page, rerun=False)  # scrolling starts no rerun
    ticks = charts.locator(".xtick text")
    # The tags are characters of the label.
    expect(ticks.filter(has_text=_tick("0:<b>x</b> bold"))).not_to_have_count(0)
    expect(ticks.filter(has_text=_tick("1:<a href='http://e.co'>y</a>"))).not_to_have_count(0)
    # Had plotly read them as markup, the tick would say "0:x bold" in a bold tspan, and link to e.co.
    expect(ticks.filter(has_text=_tick("0:x bold"))).to_have_count(0)
    expect(page.locator(".js-plotly-plot a[href*='e.co']")).to_have_count(0)
    expect(page.locator(".js-plotly-plot .xtick tspan[style*='bold']")).to_have_count(0)
    assert_no_exception(page)
    assert page.dialogs == []

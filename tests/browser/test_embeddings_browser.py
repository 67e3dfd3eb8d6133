"""The Embeddings page in a real browser: every chart draws, token labels are text, nothing executes."""

import re

from browser_kit import assert_no_exception, expect_each_shown, open_app, wait_idle
from playwright.sync_api import expect

HOSTILE = "<img src=x onerror=alert(1)> river bank, bank account 👍🏽"


def test_embeddings_page_draws_charts_with_hostile_token_labels(page, server_url):
    open_app(page, f"{server_url}/embeddings")
    box = page.get_by_role("textbox", name="Prompt", exact=True)
    box.fill(HOSTILE)
    box.press("Control+Enter")
    wait_idle(page)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    ticks = page.locator(".js-plotly-plot").first.locator(".ytick text")
    expect(ticks.filter(has_text=re.compile(r"^0:<"))).not_to_have_count(0)  # the "<" token, shown as text
    expect_each_shown(ticks, "👍")
    body = page.locator("body")
    expect(body).to_contain_text("rotary position embeddings", use_inner_text=True)
    expect(body).to_contain_text("Nearest neighbours in the vocabulary", use_inner_text=True)
    page.get_by_text("Sentence similarity", exact=True).scroll_into_view_if_needed()
    wait_idle(page, rerun=False)  # scrolling starts no rerun
    expect(page.locator(".js-plotly-plot").nth(7)).to_be_attached()  # at least 8 charts
    expect(page.locator("img[src='x']")).to_have_count(0)
    # The neighbour box shows a token of the new prompt, and the chart is about that same token.
    expect(page.get_by_role("combobox", name="Token from your prompt")).to_have_value("0: <")
    expect(page.locator(".js-plotly-plot .gtitle").filter(has_text=re.compile(r"^Nearest tokens to <$"))
           ).not_to_have_count(0)
    assert_no_exception(page)
    assert page.dialogs == []

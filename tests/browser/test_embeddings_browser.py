"""The Embeddings page in a real browser: every chart draws, token labels are text, nothing executes."""

from browser_kit import assert_no_exception, open_app, wait_idle

HOSTILE = "<img src=x onerror=alert(1)> river bank, bank account 👍🏽"


def test_embeddings_page_draws_charts_with_hostile_token_labels(page, server_url):
    open_app(page, f"{server_url}/embeddings")
    box = page.get_by_role("textbox", name="Prompt", exact=True)
    box.fill(HOSTILE)
    box.press("Control+Enter")
    wait_idle(page)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    ticks = page.locator(".js-plotly-plot").first.locator(".ytick text").all_text_contents()
    assert any(tick.startswith("0:<") for tick in ticks), ticks  # the "<" token, shown as text
    assert any("👍" in tick for tick in ticks), ticks
    body = page.inner_text("body")
    assert "rotary position embeddings" in body
    assert "Nearest neighbours in the vocabulary" in body
    page.get_by_text("Sentence similarity", exact=True).scroll_into_view_if_needed()
    wait_idle(page, rerun=False)  # scrolling starts no rerun
    assert page.locator(".js-plotly-plot").count() >= 8
    assert page.locator("img[src='x']").count() == 0
    # The neighbour box shows a token of the new prompt, and the chart is about that same token.
    shown = page.get_by_role("combobox", name="Token from your prompt").input_value()
    assert shown == "0: <", shown
    titles = page.locator(".js-plotly-plot .gtitle").all_text_contents()
    assert "Nearest tokens to <" in titles, titles
    assert_no_exception(page)
    assert page.dialogs == []

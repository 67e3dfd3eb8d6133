"""The Tokens page in a real browser: a hostile prompt shows as token text and nothing executes."""

from browser_kit import assert_no_exception, open_app, wait_idle

HOSTILE = "<img src=x onerror=alert(1)> </script><script>alert(2)</script> 👍🏽 中文"


def test_tokens_page_shows_a_hostile_prompt_as_plain_tokens(page, server_url):
    open_app(page, f"{server_url}/tokens")
    page.get_by_text("nothing", exact=True).click()  # chips without numbers: their text is the prompt
    wait_idle(page)
    box = page.get_by_role("textbox", name="Prompt", exact=True)
    box.fill(HOSTILE)
    box.press("Control+Enter")
    wait_idle(page)
    chips = page.locator(".token-chips").first
    chips.wait_for(timeout=60_000)
    text = chips.inner_text().replace("\n", "")
    assert "<img·src=x·onerror=alert(1)>" in text, text
    assert "</script><script>alert(2)</script>" in text, text
    assert "👍" in text and "中" in text and "\ufffd" not in text
    assert page.locator(".token-chips img, .token-chips script").count() == 0
    assert "Tokens per word" in page.inner_text("body")
    page.get_by_text("Tokenizers side by side").scroll_into_view_if_needed()
    assert page.locator(".js-plotly-plot").count() >= 3
    assert_no_exception(page)
    assert page.dialogs == []

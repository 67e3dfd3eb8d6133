"""The Tokens page in a real browser: a hostile prompt shows as token text and nothing executes."""

from browser_kit import assert_no_exception, open_app, unbroken, wait_idle
from playwright.sync_api import expect

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
    for part in ("<img·src=x·onerror=alert(1)>", "</script><script>alert(2)</script>", "👍", "中"):
        expect(chips).to_contain_text(unbroken(part), use_inner_text=True)
    expect(chips).not_to_contain_text("\ufffd")
    expect(page.locator(".token-chips img, .token-chips script")).to_have_count(0)
    expect(page.locator("body")).to_contain_text("Tokens per word", use_inner_text=True)
    page.get_by_text("Tokenizers side by side").scroll_into_view_if_needed()
    expect(page.locator(".js-plotly-plot").nth(2)).to_be_attached()  # at least 3 charts
    assert_no_exception(page)
    assert page.dialogs == []

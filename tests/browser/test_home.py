"""The home page in a real browser shows the real default model's card."""

from browser_kit import assert_no_exception, open_app
from playwright.sync_api import expect


def test_home_shows_real_model_card(page, server_url):
    open_app(page, server_url)
    expect(page.locator("body")).to_contain_text("SmolLM2-135M-Instruct")
    # Each metric renders on its own: wait for each value checked (label and value as a person reads them).
    metrics = page.locator('[data-testid="stMetric"]')
    expect(metrics).to_contain_text(["Layers 30", "Heads 9"], use_inner_text=True)
    assert_no_exception(page)
    assert page.dialogs == []

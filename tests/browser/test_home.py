"""The home page in a real browser shows the real default model's card."""

from browser_kit import assert_no_exception, open_app


def test_home_shows_real_model_card(page, server_url):
    open_app(page, server_url)
    page.wait_for_selector('[data-testid="stMetric"]', timeout=120_000)
    body = page.inner_text("body")
    assert "SmolLM2-135M-Instruct" in body
    metrics = page.locator('[data-testid="stMetric"]').all_inner_texts()
    joined = " | ".join(" ".join(m.split()) for m in metrics)
    assert "Layers 30" in joined, joined
    assert "Heads 9" in joined, joined
    assert_no_exception(page)
    assert page.dialogs == []

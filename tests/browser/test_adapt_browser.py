"""The Adapt page in a real browser on the real model: fine-tune with the defaults, see the loss and the comparison."""

from browser_kit import assert_no_exception, open_app
from playwright.sync_api import expect


def test_fine_tune_with_the_defaults_shows_the_loss_and_what_it_bought(page, server_url, tmp_path):
    open_app(page, f"{server_url}/adapt", timeout_ms=240_000)
    expect(page.get_by_text("‖vector‖")).to_be_visible(timeout=300_000)  # the Steer tab computed its vector
    page.get_by_role("tab", name="Fine-tune (LoRA)").click()  # this page's tabs switch without a rerun
    expect(page.get_by_text("Trains 460,800 parameters")).to_be_visible(timeout=240_000)
    page.get_by_role("button", name="Train").click()
    main = page.locator('[data-testid="stMain"]')
    # Live: the progress names the step while the run trains (or its place in the queue first).
    expect(main).to_contain_text("steps in", timeout=600_000)
    expect(main).to_contain_text("Loss on the label tokens", timeout=60_000)
    expect(main).to_contain_text("What it bought", timeout=300_000)
    expect(main).to_contain_text("fine-tuned zero-shot", timeout=60_000)
    expect(main).to_contain_text("What it cost elsewhere")
    expect(page.get_by_role("button", name="Download the adapter (PEFT folder, zip)")).to_be_visible()
    page.screenshot(path=str(tmp_path / "adapt.png"), full_page=True)
    assert_no_exception(page)

"""RNN vs Transformer, Model size and Lifecycle in a real browser on the real default model (SmolLM2)."""

from browser_kit import assert_no_exception, expect_each_shown, open_app, wait_idle
from playwright.sync_api import expect

HOSTILE = "</script><script>alert(1)</script> <img src=x onerror=alert(1)> hi 👍🏽"
CHART = '[data-testid="stPlotlyChart"]'


def _open_recording_failures(page, url: str) -> None:
    """Open a page, recording failed requests: Streamlit probes <page>/_stcore/health (404) on a deep link."""
    page.failed = []
    page.on("response", lambda response: response.status >= 400 and page.failed.append(response.url))
    open_app(page, url)


def _expect_body(page, *texts: str) -> None:
    """Wait until the visible text shows each text (KaTeX's no-break spaces count as plain spaces)."""
    body = page.locator("body")
    for text in texts:
        expect(body).to_contain_text(text, use_inner_text=True)


def _check_clean(page) -> None:
    assert_no_exception(page)
    assert page.dialogs == []
    assert all("/_stcore/" in url for url in page.failed), page.failed
    assert [e for e in page.errors if "status of 404" not in e] == []


def test_rnn_page_with_a_hostile_sentence(page, server_url):
    _open_recording_failures(page, f"{server_url}/rnn_vs_transformer")
    page.wait_for_selector(CHART, timeout=120_000)
    box = page.get_by_role("textbox", name="Sentence")
    box.fill(HOSTILE)
    box.press("Control+Enter")
    wait_idle(page)
    page.wait_for_selector(f"{CHART} .scatterlayer .trace", timeout=60_000)
    ticks = page.locator(f"{CHART} .xtick text")
    expect_each_shown(ticks, "script", "<")  # shown as literal text, once escaped
    expect(ticks.filter(has_text="&lt;")).to_have_count(0)
    expect(page.locator(f"{CHART} img")).to_have_count(0)
    expect_each_shown(page.locator(f"{CHART} .legendtext"), "RNN (tanh)", "Self-attention")
    _expect_body(page, "Attention Is All You Need")
    _check_clean(page)


def test_model_size_page_counts_smollm2_and_sizes_a_70b_model(page, server_url):
    _open_recording_failures(page, f"{server_url}/model_size")
    page.wait_for_selector(CHART, timeout=120_000)
    # SmolLM2 KV cache at 2,048 tokens, fp16: 2 × 30 × 3 × 64 × 2048 × 2 bytes = 47,185,920 bytes.
    _expect_body(page, "134,515,008, which equals the model's parameter count 134,515,008", "tied", "47.19 MB")
    page.get_by_role("tab", name="Any size (1B, 7B, 70B…)").click()
    wait_idle(page)  # the tab reruns the page (lazy tabs): wait before typing into it
    box = page.get_by_role("textbox", name="Model size (parameters)")
    box.fill("70B")
    box.press("Enter")
    page.wait_for_selector("text=70B = 70,000,000,000 parameters", timeout=60_000)
    wait_idle(page)
    _expect_body(page, "140.00 GB")  # fp16 weights: 70e9 × 2 bytes
    box.fill("<img src=x onerror=alert(1)>")
    box.press("Enter")
    page.wait_for_selector("text=Cannot read '<img src=x onerror=alert(1)>'", timeout=60_000)
    expect(page.locator("img[src=x]")).to_have_count(0)
    _check_clean(page)


def test_lifecycle_checklist_links_and_measured_quantization(page, server_url):
    _open_recording_failures(page, f"{server_url}/lifecycle")
    page.wait_for_selector("text=0 of 8 stages done", timeout=120_000)
    page.get_by_text("1. Scope").click()
    wait_idle(page)
    page.wait_for_selector("text=1 of 8 stages done", timeout=30_000)
    expect(page.get_by_role("link", name="Prompt strategies")).not_to_have_count(0)
    # SmolLM2, q and v at rank 8: 30 × 8 × (576 + 576) + 30 × 8 × (576 + 192) = 460,800 trainable.
    _expect_body(page, "460,800")
    page.get_by_role("button", name="Quantize a copy to int8 and measure").click()
    page.wait_for_selector("text=Same next-token prediction", timeout=300_000)
    wait_idle(page, timeout_ms=300_000)
    _expect_body(page, "× smaller", "Linear layers became int8")
    _check_clean(page)

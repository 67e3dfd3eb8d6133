"""RNN vs Transformer, Model size and Lifecycle in a real browser on the real default model (SmolLM2)."""

from browser_kit import assert_no_exception, open_app, wait_idle

HOSTILE = "</script><script>alert(1)</script> <img src=x onerror=alert(1)> hi 👍🏽"
CHART = '[data-testid="stPlotlyChart"]'


def _open(page, url: str) -> None:
    """Open a page, recording failed requests: Streamlit probes <page>/_stcore/health (404) on a deep link."""
    page.failed = []
    page.on("response", lambda response: response.status >= 400 and page.failed.append(response.url))
    open_app(page, url)


def _body(page) -> str:
    """Visible text, with the no-break spaces KaTeX puts in formulas made plain."""
    return page.inner_text("body").replace("\xa0", " ")


def _check_clean(page) -> None:
    assert_no_exception(page)
    assert page.dialogs == []
    assert all("/_stcore/" in url for url in page.failed), page.failed
    assert [e for e in page.errors if "status of 404" not in e] == []


def test_rnn_page_with_a_hostile_sentence(page, server_url):
    _open(page, f"{server_url}/rnn_vs_transformer")
    page.wait_for_selector(CHART, timeout=120_000)
    box = page.get_by_role("textbox", name="Sentence")
    box.fill(HOSTILE)
    box.press("Control+Enter")
    wait_idle(page)
    page.wait_for_selector(f"{CHART} .scatterlayer .trace", timeout=60_000)
    ticks = " ".join(page.locator(f"{CHART} .xtick text").all_text_contents())
    assert "script" in ticks and "<" in ticks and "&lt;" not in ticks  # shown as literal text, once escaped
    assert page.locator(f"{CHART} img").count() == 0
    legend = " ".join(page.locator(f"{CHART} .legendtext").all_text_contents())
    assert "RNN (tanh)" in legend and "Self-attention" in legend
    body = _body(page)
    assert "Attention Is All You Need" in body
    _check_clean(page)


def test_model_size_page_counts_smollm2_and_sizes_a_70b_model(page, server_url):
    _open(page, f"{server_url}/model_size")
    page.wait_for_selector(CHART, timeout=120_000)
    body = _body(page)
    assert "134,515,008, which equals the model's parameter count 134,515,008" in body
    assert "tied" in body
    # SmolLM2 KV cache at 2,048 tokens, fp16: 2 × 30 × 3 × 64 × 2048 × 2 bytes = 47,185,920 bytes.
    assert "47.19 MB" in body
    page.get_by_role("tab", name="Any size (1B, 7B, 70B…)").click()
    wait_idle(page)  # the tab reruns the page (lazy tabs): wait before typing into it
    box = page.get_by_role("textbox", name="Model size (parameters)")
    box.fill("70B")
    box.press("Enter")
    page.wait_for_selector("text=70B = 70,000,000,000 parameters", timeout=60_000)
    wait_idle(page)
    assert "140.00 GB" in _body(page)  # fp16 weights: 70e9 × 2 bytes
    box.fill("<img src=x onerror=alert(1)>")
    box.press("Enter")
    page.wait_for_selector("text=Cannot read '<img src=x onerror=alert(1)>'", timeout=60_000)
    assert page.locator("img[src=x]").count() == 0
    _check_clean(page)


def test_lifecycle_checklist_links_and_measured_quantization(page, server_url):
    _open(page, f"{server_url}/lifecycle")
    page.wait_for_selector("text=0 of 8 stages done", timeout=120_000)
    page.get_by_text("1. Scope").click()
    wait_idle(page)
    page.wait_for_selector("text=1 of 8 stages done", timeout=30_000)
    assert page.get_by_role("link", name="Prompt strategies").count() >= 1
    body = _body(page)
    # SmolLM2, q and v at rank 8: 30 × 8 × (576 + 576) + 30 × 8 × (576 + 192) = 460,800 trainable.
    assert "460,800" in body
    page.get_by_role("button", name="Quantize a copy to int8 and measure").click()
    page.wait_for_selector("text=Same next-token prediction", timeout=300_000)
    wait_idle(page, timeout_ms=300_000)
    body = _body(page)
    assert "× smaller" in body and "Linear layers became int8" in body
    _check_clean(page)

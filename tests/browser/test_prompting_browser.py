"""The Prompt strategies page in a real browser on the real model: three completions, hostile query as text."""

import re

from browser_kit import assert_no_exception, open_app, wait_idle
from playwright.sync_api import expect

from core import prompting

HOSTILE = "<img src=x onerror=alert(1)> </script><script>alert(2)</script> Awful film 🎬"


def _answers(page):
    """The answer metrics (one per prompt strategy)."""
    return page.locator('[data-testid="stMetric"]').filter(has_text=re.compile(r"^Answer"))


def _exactly(text: str) -> re.Pattern:
    return re.compile(f"^{re.escape(text)}$")


def test_compare_shows_three_completions_and_hostile_query_stays_text(page, server_url, tmp_path):
    open_app(page, f"{server_url}/prompting", timeout_ms=240_000)
    page.wait_for_selector(".llm-lens-chips", timeout=240_000)
    expect(_answers(page)).to_have_count(3)
    expect(page.locator(".llm-lens-chips")).to_have_count(3)
    assert_no_exception(page)

    query = page.get_by_label("Query (the text to classify)")
    query.fill(HOSTILE)
    page.get_by_role("button", name="Compare").click()
    wait_idle(page, timeout_ms=240_000)
    page.wait_for_selector(".llm-lens-chips", timeout=240_000)
    expect(_answers(page)).to_have_count(3)
    expect(page.locator(".llm-lens-chips")).to_have_count(3)
    # The query is shown verbatim in every prompt block (open the first one to see it).
    page.get_by_text("Prompt ·").first.click()
    code = page.locator('[data-testid="stMain"] [data-testid="stCode"]').first
    expect(code).to_contain_text(HOSTILE, use_inner_text=True)
    expect(page.locator("img[src='x']")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "prompting.png"), full_page=True)
    assert page.dialogs == []
    assert not [e for e in page.errors if "alert" in e], page.errors
    assert_no_exception(page)


def _csv_input(page):
    """The CSV uploader's file input (the page has a second uploader, for experiments)."""
    uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text="CSV with columns text,label")
    uploader.wait_for(timeout=240_000)
    return uploader.locator('[data-testid="stFileUploaderDropzoneInput"]')


def _upload(page, path) -> None:
    page.get_by_text("Upload a CSV (text,label)").click()
    wait_idle(page, timeout_ms=240_000)
    _csv_input(page).set_input_files(str(path))
    wait_idle(page, timeout_ms=240_000)


def test_csv_upload_bad_file_gets_a_message_and_good_file_is_scored(page, server_url, tmp_path):
    open_app(page, f"{server_url}/prompting", timeout_ms=240_000)
    page.wait_for_selector(".llm-lens-chips", timeout=240_000)
    bad = tmp_path / "photo.csv"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR<script>alert(1)</script>")
    _upload(page, bad)
    page.get_by_text("The file looks binary").wait_for(timeout=60_000)
    assert_no_exception(page)

    good = tmp_path / "reviews.csv"
    good.write_text("text,label\n\"Wonderful, moving film\",positive\nA total bore,negative\n"
                    "<b>Loved</b> it 😍,positive\nX marks the spot,<b>x</b>\n", encoding="utf-8")
    _csv_input(page).set_input_files(str(good))  # replaces it
    wait_idle(page, timeout_ms=240_000)
    page.get_by_text("4 labelled items, 4 scored").wait_for(timeout=60_000)
    page.get_by_role("button", name="Evaluate").click()
    page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=600_000)
    wait_idle(page, timeout_ms=600_000)
    page.get_by_text("Reliability diagram").first.wait_for(timeout=60_000)
    page.get_by_text("Confusion: few-shot").first.wait_for(timeout=60_000)
    # bars, k chart, confusion, label bias, reliability, which shot helped
    expect(page.locator('[data-testid="stPlotlyChart"]')).to_have_count(6)
    expect(page.get_by_role("button", name="Download predictions (CSV)")).to_have_count(1)
    expect(page.locator("b:text('Loved')")).to_have_count(0)
    assert page.dialogs == []
    # The hostile label is a label choice: its tick in the confusion matrix reads as typed, never bold.
    ticks = page.locator('[data-testid="stPlotlyChart"] svg text')
    expect(ticks.filter(has_text=_exactly("<b>x</b>"))).not_to_have_count(0)
    bold = page.locator('[data-testid="stPlotlyChart"] svg tspan[style*="bold"]')
    expect(bold.filter(has_text=_exactly("x"))).to_have_count(0)
    page.screenshot(path=str(tmp_path / "evaluation.png"), full_page=True)
    assert_no_exception(page)


def _open_experiments(page) -> None:
    """Open the experiment expander unless it is open (a rerun may have folded it)."""
    details = page.locator('[data-testid="stExpander"] details').filter(has_text="Save or load an experiment")
    if details.get_attribute("open") is None:
        page.get_by_text("Save or load an experiment (JSON)").click()


def _shows(page, text: str) -> None:
    """Wait until text inside the experiment expander is visible to a person."""
    _open_experiments(page)
    page.get_by_text(text).wait_for(timeout=60_000)


def _experiment_input(page):
    """The experiment uploader's file input, inside its expander (opened first)."""
    _open_experiments(page)
    uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text="Load an experiment")
    uploader.wait_for(timeout=240_000)
    return uploader.locator('[data-testid="stFileUploaderDropzoneInput"]')


def test_experiment_file_that_is_not_one_gets_a_message_and_a_good_one_loads(page, server_url, tmp_path):
    # The page's upload callback (AppTest cannot upload files): errors name the problem, nothing breaks.
    open_app(page, f"{server_url}/prompting", timeout_ms=240_000)
    page.wait_for_selector(".llm-lens-chips", timeout=240_000)
    files = _experiment_input(page)
    broken = tmp_path / "broken.json"
    broken.write_text('{"instruction": "<script>alert(1)</script>", ', encoding="utf-8")
    files.set_input_files(str(broken))
    wait_idle(page, timeout_ms=240_000)
    _shows(page, "The file is not valid JSON")
    other = tmp_path / "other.json"
    other.write_text('{"hello": "world"}', encoding="utf-8")
    files.set_input_files(str(other))
    wait_idle(page, timeout_ms=240_000)
    _shows(page, "The file is not an LLM Lens experiment")
    expect(page.get_by_text("The file is not valid JSON")).to_have_count(0)  # the old message is gone
    assert_no_exception(page)

    query = "Loaded query <b>bold?</b> 🎬"
    good = tmp_path / "mine.json"
    good.write_text(prompting.experiment_to_json({
        "instruction": "Say positive or negative.", "examples": [["Loved it", "positive"], ["Hated it", "negative"]],
        "query": query, "format": "plain", "few_k": 2,
    }), encoding="utf-8")
    files.set_input_files(str(good))
    wait_idle(page, timeout_ms=240_000)
    page.screenshot(path=str(tmp_path / "experiment-loaded.png"), full_page=True)
    expect(page.get_by_label("Query (the text to classify)")).to_have_value(query, timeout=240_000)
    page.wait_for_selector(".llm-lens-chips", timeout=240_000)
    expect(page.get_by_text("not an LLM Lens experiment")).to_have_count(0)
    expect(page.locator("b:text('bold?')")).to_have_count(0)
    assert page.dialogs == []
    assert_no_exception(page)

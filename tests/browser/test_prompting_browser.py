"""The Prompt strategies page in a real browser on the real model: three completions, hostile query as text."""

from browser_kit import assert_no_exception, open_app, wait_idle
from playwright.sync_api import TimeoutError as PlaywrightTimeout

HOSTILE = "<img src=x onerror=alert(1)> </script><script>alert(2)</script> Awful film 🎬"


def _answers(page) -> list[str]:
    metrics = page.locator('[data-testid="stMetric"]').all_inner_texts()
    return [" ".join(m.split()) for m in metrics if m.strip().startswith("Answer")]


def test_compare_shows_three_completions_and_hostile_query_stays_text(page, server_url, tmp_path):
    open_app(page, f"{server_url}/prompting", timeout_ms=240_000)
    page.wait_for_selector(".llm-lens-chips", timeout=240_000)
    assert len(_answers(page)) == 3
    assert page.locator(".llm-lens-chips").count() == 3
    assert_no_exception(page)

    query = page.get_by_label("Query (the text to classify)")
    query.fill(HOSTILE)
    page.get_by_role("button", name="Compare").click()
    wait_idle(page, timeout_ms=240_000)
    page.wait_for_selector(".llm-lens-chips", timeout=240_000)
    answers = _answers(page)
    assert len(answers) == 3, answers
    assert page.locator(".llm-lens-chips").count() == 3
    # The query is shown verbatim in every prompt block (open the first one to see it).
    page.get_by_text("Prompt ·").first.click()
    code = page.locator('[data-testid="stCode"]').first.inner_text()
    assert HOSTILE in code, code[-300:]
    assert page.locator("img[src='x']").count() == 0
    page.screenshot(path=str(tmp_path / "prompting.png"), full_page=True)
    assert page.dialogs == []
    assert not [e for e in page.errors if "alert" in e], page.errors
    assert_no_exception(page)


def _settled_box(page, locator) -> dict:
    """The element's box once the layout stops moving (status boxes above it collapse after a run)."""
    box = locator.bounding_box()
    for _ in range(50):
        page.wait_for_timeout(200)
        again = locator.bounding_box()
        if again == box:
            return box
        box = again
    return box


def _one_shot_prompt(page) -> str:
    """Open the one-shot column's prompt block if needed and return its text."""
    block = page.locator('[data-testid="stExpander"]').filter(has_text="Prompt ·").nth(1)
    code = block.locator('[data-testid="stCode"]')
    if not code.is_visible():
        block.get_by_text("Prompt ·").click()
    code.wait_for(timeout=30_000)
    return code.inner_text()


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
                    "<b>Loved</b> it 😍,positive\n", encoding="utf-8")
    _csv_input(page).set_input_files(str(good))  # replaces it
    wait_idle(page, timeout_ms=240_000)
    page.get_by_text("3 labelled items, 3 scored").wait_for(timeout=60_000)
    page.get_by_role("button", name="Evaluate").click()
    page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=600_000)
    wait_idle(page, timeout_ms=600_000)
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 2
    assert page.get_by_role("button", name="Download predictions (CSV)").count() == 1
    assert page.dialogs == [] and page.locator("b:text('Loved')").count() == 0
    page.screenshot(path=str(tmp_path / "evaluation.png"), full_page=True)
    assert_no_exception(page)


def _edit_first_label(page, text: str) -> bool:
    """Type text into the first example's label cell (the grid is a canvas: click by position)."""
    wait_idle(page)
    canvas = page.locator('[data-testid="stDataFrame"] [data-testid="data-grid-canvas"]').first
    canvas.wait_for(timeout=60_000)
    canvas.scroll_into_view_if_needed()
    box = _settled_box(page, canvas)
    page.mouse.click(box["x"] + box["width"] - 40, box["y"] + 36 + 17)  # select: first row, label column
    page.wait_for_timeout(300)
    page.keyboard.press("Enter")  # open the selected cell's editor
    editor = page.locator("textarea.gdg-input")  # the grid's cell editor overlay
    try:
        editor.wait_for(timeout=5_000)
    except PlaywrightTimeout:
        page.keyboard.press("Escape")
        return False
    page.keyboard.press("Control+A")
    page.keyboard.type(text)
    page.keyboard.press("Enter")
    editor.wait_for(state="detached", timeout=30_000)
    page.wait_for_timeout(1_500)  # the grid hands its edit to the form after a short debounce
    page.get_by_text("Labelled examples: the shots").click()  # blur the grid so the edit is committed
    page.wait_for_timeout(500)
    return True


def test_edited_example_is_used_and_survives_a_page_switch(page, server_url, tmp_path):
    open_app(page, f"{server_url}/prompting", timeout_ms=240_000)
    page.wait_for_selector(".llm-lens-chips", timeout=240_000)
    for _ in range(5):  # clicking a canvas cell by position is the flaky part, so it may be retried
        if not _edit_first_label(page, "neutral"):
            continue
        page.get_by_role("button", name="Compare").click()
        wait_idle(page, timeout_ms=240_000)
        if "Label: neutral" in _one_shot_prompt(page):
            break
    page.screenshot(path=str(tmp_path / "after-edit.png"), full_page=True)
    assert "Label: neutral" in _one_shot_prompt(page)  # the edit reached the prompt
    for target in ("tokens", "prompting"):  # away and back, inside the same session
        page.locator(f'[data-testid="stSidebarNav"] a[href$="/{target}"]').click()
        wait_idle(page, timeout_ms=240_000)
    page.wait_for_selector(".llm-lens-chips", timeout=240_000)
    code = _one_shot_prompt(page)
    assert "Label: neutral" in code, code  # the edited table survived the page switch
    assert_no_exception(page)

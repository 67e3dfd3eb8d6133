"""Prompt strategies in a real browser: a summary written by `llm-lens eval` loads beside a new run."""

import re

from browser_kit import assert_no_exception, open_app, wait_idle
from playwright.sync_api import expect

from core import prompting
from core.prompting import cli

EXPERIMENT = {  # short, so the real model scores it in seconds
    "preset": "Movie-review sentiment", "instruction": "Say positive or negative.",
    "examples": [["Loved it", "positive"], ["Hated it", "negative"], ["Great fun", "positive"]],
    "query": "So dull", "format": "plain", "few_k": 2, "sweep": [0, 1], "shuffles": 1, "mode": "rank",
    "items": [["Fun film <b>!</b>", "positive"], ["Bad film", "negative"], ["Dull", "negative"],
              ["Great", "positive"]],
}


def test_a_saved_summary_loads_and_is_compared_item_by_item(page, server_url, tmp_path, tiny_llama_path,
                                                          monkeypatch):
    monkeypatch.setenv("LLM_LENS_MODEL", str(tiny_llama_path))  # the saved run: the tiny model, via the CLI
    source = tmp_path / "experiment.json"
    source.write_text(prompting.experiment_to_json(EXPERIMENT), encoding="utf-8")
    assert cli.main(["eval", str(source), "--out", str(tmp_path / "out")]) == cli.PASS

    open_app(page, f"{server_url}/prompting", timeout_ms=240_000)
    page.wait_for_selector(".llm-lens-chips", timeout=240_000)
    page.get_by_text("Save or load an experiment (JSON)").click()
    uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text="Load an experiment")
    uploader.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        str(tmp_path / "out" / "summary.json"))
    wait_idle(page, timeout_ms=240_000)
    expect(page.get_by_label("Query (the text to classify)")).to_have_value("So dull", timeout=240_000)
    charts = page.locator('[data-testid="stPlotlyChart"]')
    expect(charts.first).to_contain_text("Accuracy per strategy", timeout=240_000)  # the saved bars, before any run
    page.get_by_role("button", name="Evaluate").click()
    main = page.locator('[data-testid="stMain"]')
    expect(main).to_contain_text("This run vs Loaded: summary.json", timeout=600_000)
    expect(charts.first).to_contain_text("Loaded: summary.json", timeout=60_000)  # two runs: a legend names both
    expect(main).to_contain_text(re.compile(r"items would be needed|very unlikely by chance"), timeout=60_000)
    expect(main).to_contain_text("95% intervals", timeout=60_000)
    assert page.locator("b:text('!')").count() == 0 and page.dialogs == []  # item text stays text
    page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
    assert_no_exception(page)

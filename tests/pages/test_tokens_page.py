"""The Tokens page on the tiny Llama: chips, counts, gauge, chat template, comparison; bad input is a message."""

from __future__ import annotations

import json
import re

import pytest
from page_kit import open_page

HOSTILE = "</script><script>alert(1)</script> <img src=x onerror=alert(1)> 👍🏽"


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _chip_count(html_body: str) -> int:
    return len(re.findall(r"<span style=\"[^\"]*\" title=", html_body))


def test_default_prompt_shows_chips_counts_gauge_and_comparison(make_app):
    at = open_page(make_app, "tokens")
    chips = at.get("html")[0].value
    metrics = _metrics(at)
    assert _chip_count(chips) == int(metrics["Tokens"])
    assert int(metrics["Characters"]) == len(at.text_area(key="prompt").value)
    charts = at.get("plotly_chart")
    assert len(charts) == 3  # context gauge, tokenizer counts, languages
    counts = json.loads(charts[1].proto.spec)["data"][0]
    assert len(counts["x"]) == 5  # tiny model, SmolLM2, MiniLM, cl100k_base, o200k_base
    assert counts["x"][0] == "tiny-llama"  # the folder's name, not its path
    assert "GPT-4 (cl100k_base)" in counts["x"] and "GPT-4o (o200k_base)" in counts["x"]
    assert at.success and "Fits" in at.success[0].value


def test_hostile_prompt_is_shown_escaped(make_app):
    at = open_page(make_app, "tokens", HOSTILE)
    for element in at.get("html"):
        assert "<script" not in element.value and "<img" not in element.value
    chips = at.get("html")[0].value
    assert "&lt;" in chips and "&gt;" in chips  # the brackets arrive as text
    assert "👍" in chips  # the emoji appears whole, never as U+FFFD
    assert "\ufffd" not in chips


def test_chip_labels_switch_to_ids(make_app):
    at = open_page(make_app, "tokens", "bank bank")
    at.radio(key="tokens_chip_label").set_value("id").run()
    chips = at.get("html")[0].value
    ids = [int(row) for row in at.dataframe[0].value["id"]]
    assert re.findall(r">(\d+)</span>", chips) == [str(i) for i in ids]


def test_chat_template_section_counts_added_special_tokens(make_app):
    at = open_page(make_app, "tokens", "Hello")
    metrics = _metrics(at)
    assert metrics["Special tokens added"] == "3"  # <|im_start|>user … <|im_end|> <|im_start|>assistant
    wrapped = at.get("html")[1].value
    assert wrapped.count("dashed") == 3


def test_overflowing_text_says_what_would_be_cut(make_app):
    # The tiny Llama's window is 128 tokens, hence the widget key.
    at = open_page(make_app, "tokens", "The river bank was muddy after the rain. " * 40, tokens_reserve_128=64)
    assert at.error, "expected a does-not-fit message"
    assert "Does not fit" in at.error[0].value and "cut from the end" in at.error[0].value
    assert "muddy" in at.get("text")[0].value


@pytest.mark.parametrize("prompt,message", [("   ", "empty"), ("x" * 120_001, "120,000")])
def test_bad_prompts_give_a_warning_not_a_crash(make_app, prompt, message):
    at = open_page(make_app, "tokens", prompt)
    assert at.warning and message in at.warning[0].value
    assert not at.get("plotly_chart")


def test_text_at_the_character_limit_still_renders(make_app):
    # Exactly 120,000 characters: only the chat-wrapped text is too long.
    at = open_page(make_app, "tokens", "ab " * 40_000)
    assert int(_metrics(at)["Characters"].replace(",", "")) == 120_000
    assert any("chat template" in w.value for w in at.warning)


def test_long_text_is_capped_not_hung(make_app):
    at = open_page(make_app, "tokens", "Straße café 中文 " * 6_000)  # ~100k characters
    chips = at.get("html")[0].value
    assert _chip_count(chips) == 2_000 and "more tokens" in chips
    assert at.error and "Does not fit" in at.error[0].value


def test_text_without_spaces_gets_the_openai_cap_message_and_the_other_tokenizers(make_app):
    at = open_page(make_app, "tokens", "x" * 20_000)
    warnings = " ".join(w.value for w in at.warning)
    assert "20,000 characters without a space" in warnings and "1,000 bytes" in warnings
    names = json.loads(at.get("plotly_chart")[1].proto.spec)["data"][0]["x"]
    assert names[0] == "tiny-llama" and not any("cl100k" in n for n in names)
    assert any("1,000 bytes" in c.value for c in at.caption)  # the cap is stated on the page

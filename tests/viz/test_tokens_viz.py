"""Token chips HTML (escaped, one chip per token), count charts and the context gauge, on synthetic data."""

from __future__ import annotations

import re

import numpy as np
import pytest

from core.tokenizers_compare import ContextFit
from core.tokens import Tokenization
from viz.tokens import context_gauge, language_cost_chart, token_chips_html, token_count_chart

HOSTILE = '<img src=x onerror=alert(1)>'


def make_tokens(labels, special=None, parts=None, texts=None) -> Tokenization:
    """A Tokenization built by hand: ids 100, 101, …; parts is a list of (index, count)."""
    n = len(labels)
    special = np.array(special or [False] * n)
    index = np.array([p[0] for p in parts]) if parts else np.ones(n, int)
    count = np.array([p[1] for p in parts]) if parts else np.ones(n, int)
    return Tokenization(
        text="".join(labels), ids=np.arange(100, 100 + n), pieces=tuple(f'p"{i}' for i in range(n)),
        texts=tuple(texts or labels), labels=tuple(labels), spans=np.zeros((n, 2), int), special=special,
        part_index=index, part_count=count, byte_hex=("F0 9F",) * n,
    )


def chips(html_text: str) -> list[str]:
    return re.findall(r'<span style="[^"]*" title="[^"]*">', html_text)


def test_one_chip_per_token_with_positions_or_ids():
    tokens = make_tokens(["The", "·bank", "·bank"])
    by_position = token_chips_html(tokens, show="position")
    assert len(chips(by_position)) == 3
    assert [m for m in re.findall(r">(\d+)</span>", by_position)] == ["0", "1", "2"]
    by_id = token_chips_html(tokens, show="id")
    assert re.findall(r">(\d+)</span>", by_id) == ["100", "101", "102"]
    assert re.findall(r">(\d+)</span>", token_chips_html(tokens, show="none")) == []


def test_hostile_token_text_is_escaped_everywhere():
    tokens = make_tokens([HOSTILE, '"quoted"', "</div><script>alert(2)</script>"])
    out = token_chips_html(tokens)
    assert "<img" not in out and "<script" not in out
    assert "&lt;img src=x onerror=alert(1)&gt;" in out
    assert "&lt;/div&gt;&lt;script&gt;" in out
    # Pieces with quotes cannot break out of the title attribute.
    assert all(title.count('"') == 0 for title in re.findall(r'title="([^"]*)"', out))
    assert "&#x27;p&quot;0&#x27;" in out


def test_special_tokens_split_characters_and_newlines_are_marked():
    tokens = make_tokens(
        ["<|im_start|>", "👍 (1/2)", "👍 (2/2)", "↵", "x"], special=[True, False, False, False, False],
        parts=[(1, 1), (1, 2), (2, 2), (1, 1), (1, 1)], texts=["<|im_start|>", "👍", "", "\n", "x"],
    )
    out = token_chips_html(tokens)
    styles = re.findall(r'<span style="([^"]*)" title', out)
    assert "dashed" in styles[0] and "dashed" not in styles[1]
    assert "inset" in styles[1] and "inset" in styles[2] and "inset" not in styles[4]
    assert "special token added by the tokenizer" in out and "bytes F0 9F" in out
    assert out.count("<br>") == 1 and out.index("<br>") > out.index("↵")
    assert "(1/2)" in out and "(2/2)" in out


def test_colour_bands_differ_between_neighbours():
    styles = re.findall(r"background:(#[0-9a-f]{6})", token_chips_html(make_tokens(list("abcdefg"))))
    assert len(styles) == 7
    assert all(a != b for a, b in zip(styles, styles[1:]))


def test_chips_are_capped_with_a_note():
    out = token_chips_html(make_tokens(["a"] * 30), max_chips=10)
    assert len(chips(out)) == 10
    assert "20 more tokens" in out


def test_bad_show_option():
    with pytest.raises(ValueError, match="position"):
        token_chips_html(make_tokens(["a"]), show="colour")


def test_token_count_chart_holds_the_counts():
    figure = token_count_chart(["SmolLM2", "<b>x</b>"], [12, 7])
    bar = figure.data[0]
    assert list(bar.y) == [12, 7]
    assert list(bar.x) == ["SmolLM2", "&lt;b&gt;x&lt;/b&gt;"]


def test_language_cost_chart_one_trace_per_tokenizer():
    counts = np.array([[6, 6, 5], [24, 21, 5]])
    figure = language_cost_chart(["English", "Hindi"], ["a", "b", "c"], counts)
    assert [trace.name for trace in figure.data] == ["a", "b", "c"]
    assert [list(trace.y) for trace in figure.data] == [[6, 24], [6, 21], [5, 5]]
    assert figure.layout.barmode == "group"


def test_context_gauge_stacks_the_parts_against_the_window():
    fit = ContextFit(prompt=100, overhead=30, reserved=50, window=150, cut_tokens=30, cut_text="…", side="end")
    figure = context_gauge(fit)
    assert [trace.x[0] for trace in figure.data] == [70, 30, 50, 30]
    assert figure.layout.barmode == "stack"
    assert figure.layout.shapes[0].x0 == 150
    assert figure.layout.xaxis.range[1] >= fit.total

"""The attention page on the tiny Llama: every tab renders, toggles reshape, bad input is a message."""

from __future__ import annotations

import html
import re

import numpy as np
import pytest
from page_kit import open_page
from plotly_arrays import chart_array

from ui import widgets

HOSTILE = "</script><script>alert(1)</script> <img src=x onerror=alert(1)> 👍"


def test_first_tab_shows_one_causal_heatmap(make_app):
    at = open_page(make_app, "attention")
    charts = at.get("plotly_chart")
    assert len(charts) == 1  # lazy tabs: only the open one ran
    z = chart_array(charts[0], "z")
    assert z.shape[0] == z.shape[1] > 3
    np.testing.assert_allclose(z.sum(1), 1.0, atol=1e-4)
    assert np.allclose(np.triu(z, 1), 0)  # tiny Llama is a decoder: no weight on the future


def test_hide_first_token_drops_a_row_and_renormalises(make_app):
    at = open_page(make_app, "attention")
    n = chart_array(at.get("plotly_chart")[0], "z").shape[0]
    at.toggle(key="attn_hide_first").set_value(True).run()
    assert not at.exception
    z = chart_array(at.get("plotly_chart")[0], "z")
    assert z.shape == (n - 1, n - 1)
    np.testing.assert_allclose(z.sum(1), 1.0, atol=1e-4)


@pytest.mark.parametrize("mode,head_options", [("heads", 1), ("layers", 4), ("rollout", 1)])
def test_combine_modes_change_the_head_choices(make_app, mode, head_options):
    at = open_page(make_app, "attention", attn_head=3)
    at.radio(key="attn_combine").set_value(mode).run()
    assert not at.exception
    assert len(at.selectbox(key="attn_head").options) == head_options
    np.testing.assert_allclose(chart_array(at.get("plotly_chart")[0], "z").sum(1), 1.0, atol=1e-4)


@pytest.mark.parametrize("tab", ["Heads of a layer", "All layers", "From one token", "Head table", "Export",
                                 "Encoder vs decoder"])
def test_every_tab_renders_with_a_hostile_prompt(make_app, tab):
    at = open_page(make_app, "attention", HOSTILE, attn_tab=tab)
    assert not at.exception
    if tab == "From one token":
        body = at.get("html")[0].proto.body
        assert "<script" not in body and "<img" not in body
        shown = html.unescape(re.sub(r"<[^>]+>", "", body))  # the text a person reads
        assert "</script><script>alert(1)</script>" in shown
    if tab == "Head table":
        frame = at.dataframe[0].value
        assert len(frame) == 2 * 4 and set(frame["layer"]) == {0, 1}
        assert ((frame["first_token"] >= 0) & (frame["first_token"] <= 1)).all()


def test_head_table_row_opens_that_head(make_app, monkeypatch):
    at = open_page(make_app, "attention", attn_tab="Head table")
    frame = at.dataframe[0].value
    row = int(np.flatnonzero((frame["layer"] == 1) & (frame["head"] == 2))[0])
    # AppTest cannot click a dataframe row: call the page's selection callback on plain state.
    from types import SimpleNamespace

    from ui.sections import attention_ui

    state = {"attn_table": SimpleNamespace(selection=SimpleNamespace(rows=[row])),
             "attn_table_rows": at.session_state["attn_table_rows"]}
    monkeypatch.setattr(attention_ui.st, "session_state", state)
    attention_ui._open_head_from_table()
    assert (state["attn_layer"], state["attn_head"], state["attn_tab"], state["attn_combine"]) == (
        1, 2, "One head", "none")


def test_bertviz_tab_embeds_offline_html_with_escaped_tokens(make_app):
    at = open_page(make_app, "attention", "</script><script>alert(1)</script>", attn_tab="bertviz")
    frames = at.main.get("iframe")  # the sidebar holds one more: the share link's Copy button
    assert len(frames) == 1
    page = frames[0].proto.srcdoc
    assert "cdnjs" not in page and "require.config" not in page
    assert '"\\u003c"' in page and '"\\u003e"' in page  # the tiny tokenizer splits tags into characters
    assert page.lower().count("</script") == 5  # jQuery, d3, require.js, module shim, bertviz: no extra


def test_bertviz_html_is_cached_between_reruns(make_app):
    at = open_page(make_app, "attention", attn_tab="bertviz")
    first = at.main.get("iframe")[0].proto.srcdoc
    at.toggle(key="attn_hide_first").set_value(True).run()
    assert at.main.get("iframe")[0].proto.srcdoc == first  # same random id: the frame does not reload


def test_bertviz_with_no_layers_says_so(make_app, app_env):
    no_layers = {widgets.scoped_key("attn_bv_layers", str(app_env)): []}
    at = open_page(make_app, "attention", attn_tab="bertviz", **no_layers)
    assert not at.main.get("iframe")
    assert any("at least one layer" in w.value for w in at.warning)


def test_generated_text_marks_the_answer(make_app):
    at = open_page(make_app, "attention", "The capital of France is", attn_tab="Generated text", attn_generate=True,
               attn_new_tokens=4)
    assert not at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    import json

    shapes = json.loads(charts[0].proto.spec)["layout"]["shapes"]
    assert len(shapes) == 2  # the dashed lines between prompt and answer
    table = at.dataframe[0].value
    assert 1 <= len(table) <= 5


@pytest.mark.parametrize("prompt,message", [("   ", "empty"), ("word " * 20_000, "context window is"),
                                            ("x" * 130_000, "characters")])
def test_bad_prompts_give_a_message(make_app, prompt, message):
    at = open_page(make_app, "attention", prompt)
    assert not at.get("plotly_chart")
    assert any(message in w.value for w in at.warning), [w.value for w in at.warning]


def test_switching_layer_and_head_does_not_rerun_the_model(make_app, monkeypatch):
    import core

    calls = []
    original = core.analyze
    monkeypatch.setattr(core, "analyze", lambda *a, **k: calls.append(a[1]) or original(*a, **k))
    prompt = "The river bank was muddy after the rain."
    at = open_page(make_app, "attention", prompt)
    # Caches start empty (tests/pages/conftest.py): the default prompt, then the typed one, each runs the model once.
    assert len(calls) == 2 and calls[1] == prompt, calls
    before = chart_array(at.get("plotly_chart")[0], "z")
    at.selectbox(key="attn_layer").set_value(1).run()
    at.selectbox(key="attn_head").set_value(3).run()
    assert not at.exception
    assert len(calls) == 2, calls
    assert not np.allclose(chart_array(at.get("plotly_chart")[0], "z"), before)  # a different head is shown


def test_one_token_prompt_with_hidden_first_token_explains(make_app):
    at = open_page(make_app, "attention", "a", attn_hide_first=True)
    assert not at.get("plotly_chart")
    assert any("at least 2 tokens" in w.value for w in at.warning)
    at.toggle(key="attn_hide_first").set_value(False).run()
    assert not at.exception
    assert chart_array(at.get("plotly_chart")[0], "z").shape == (1, 1)

"""The Embeddings page on the tiny Llama: every view renders with real data; bad input is a message."""

from __future__ import annotations

import html
import json

import numpy as np
import pytest
from page_kit import open_page
from plotly_arrays import plotly_array

from core.tokens import tokenize

HOSTILE = "</script><script>alert(1)</script> <img src=x onerror=alert(1)> 👍🏽"


def _charts(at) -> dict[str, dict]:
    """Chart specs by title text."""
    out = {}
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        out[spec["layout"].get("title", {}).get("text", "")] = spec
    return out


def test_all_views_render_for_the_default_prompt(make_app):
    at = open_page(make_app, "embeddings")
    charts = _charts(at)
    heat = plotly_array(charts["Input embedding of each token"]["data"][0]["z"])
    assert heat.shape[1] == 32  # tiny Llama's d_model
    n = heat.shape[0]
    static = plotly_array(charts["Cosine similarity: Token embeddings"]["data"][0]["z"])
    assert static.shape == (n - 1, n - 1)  # decoder: first token left out by default
    np.testing.assert_allclose(np.diag(static), 1.0, atol=1e-5)
    assert any(title.startswith("Nearest tokens to") for title in charts)
    assert "Sentence similarity (cosine)" in charts
    assert "Same token, different context" in charts  # the default prompt repeats " capital", " of", " is"
    assert any("rotary" in info.value for info in at.info)


def test_layer_slider_and_3d_projection(make_app):
    at = open_page(make_app, "embeddings", emb_dims=3)
    at.slider(key="emb_layer_2").set_value(0).run()
    charts = _charts(at)
    assert charts["After layer 0"]["data"][0]["type"] == "scatter3d"
    # Layer 0 of a rotary model is the raw lookup: static and layer-0 similarities agree.
    static = plotly_array(charts["Cosine similarity: Token embeddings"]["data"][0]["z"])
    layer0 = plotly_array(charts["Cosine similarity: Layer 0"]["data"][0]["z"])
    np.testing.assert_allclose(static, layer0, atol=1e-5)


def test_keeping_the_first_token_adds_a_row(make_app):
    at = open_page(make_app, "embeddings")
    n = plotly_array(_charts(at)["Cosine similarity: Token embeddings"]["data"][0]["z"]).shape[0]
    at.toggle(key="emb_skip_first_decoder").set_value(False).run()
    assert plotly_array(_charts(at)["Cosine similarity: Token embeddings"]["data"][0]["z"]).shape[0] == n + 1


def _label_texts(spec: dict) -> list[str]:
    """Every tick, point and hover text of a figure: the places plotly draws a subset of HTML."""
    texts = [t for axis, layout in spec["layout"].items() if axis.startswith(("xaxis", "yaxis"))
             for t in layout.get("ticktext", [])]
    for trace in spec["data"]:
        for key in ("text", "hovertext"):
            value = trace.get(key)
            texts += [value] if isinstance(value, str) else list(value or [])
    return [str(t) for t in texts]


def test_hostile_prompt_shows_literally_in_every_chart(make_app, tiny_llama):
    at = open_page(make_app, "embeddings", HOSTILE)
    labels = tokenize(tiny_llama, HOSTILE).labels  # what the page's model makes of the prompt
    ticks = _charts(at)["Input embedding of each token"]["layout"]["yaxis"]["ticktext"]
    # Plotly decodes entities and draws tags: what a person reads is the unescaped tick text.
    assert [html.unescape(t) for t in ticks] == [f"{i}:{label}" for i, label in enumerate(labels)]
    shown = "".join(html.unescape(t).split(":", 1)[1] for t in ticks)
    assert "</script><script>alert(1)</script>·<img·src=x·onerror=alert(1)>·👍🏽" in shown
    charts = at.get("plotly_chart")
    assert len(charts) >= 3
    for chart in charts:
        texts = _label_texts(json.loads(chart.proto.spec))
        assert not [t for t in texts if "<" in t or ">" in t], "a raw tag would be drawn, not shown"


def test_typed_word_of_several_tokens_is_a_warning(make_app):
    at = open_page(make_app, "embeddings")
    at.text_input(key="emb_nn_word").set_value("Xylophonequartz").run()
    assert not at.exception
    assert any("tokens" in w.value and "single token" in w.value for w in at.warning)


@pytest.mark.parametrize("prompt,message", [("  ", "empty"), ("bank " * 600, "context window is 128")])
def test_bad_prompts_give_a_warning_not_a_crash(make_app, prompt, message):
    at = open_page(make_app, "embeddings", prompt)
    assert at.warning and message in at.warning[0].value
    assert not at.get("plotly_chart")


def test_no_sentences_is_a_warning(make_app):
    at = open_page(make_app, "embeddings")
    at.text_area(key="emb_sentences").set_value("\n \n").run()
    assert not at.exception
    assert any("at least one" in w.value for w in at.warning)


def test_shorter_prompt_after_choosing_a_late_token(make_app):
    at = open_page(make_app, "embeddings")
    at.selectbox(key="emb_nn_pos").select_index(10).run()
    assert at.selectbox(key="emb_nn_pos").value.startswith("10: ")
    label = at.selectbox(key="emb_nn_pos").value.split(": ", 1)[1]
    assert f"Nearest tokens to {label}" in _charts(at)
    at.text_area(key="prompt").set_value("river bank").run()
    assert not at.exception, at.exception
    choice = at.selectbox(key="emb_nn_pos").value
    assert choice in at.selectbox(key="emb_nn_pos").options
    label = choice.split(": ", 1)[1]
    assert f"Nearest tokens to {label}" in _charts(at)  # the chart follows what the box shows


@pytest.mark.slow
def test_encoder_shows_learned_positions(make_app, monkeypatch):
    monkeypatch.setenv("LLM_LENS_MODEL", "all-MiniLM-L6-v2")  # the bundled encoder: small and fast to load
    at = open_page(make_app, "embeddings")
    charts = _charts(at)
    assert plotly_array(charts["Position embeddings"]["data"][0]["z"]).shape[1] == 384
    assert at.toggle(key="emb_skip_first_encoder").value is False  # [CLS] is an ordinary first token for BERT

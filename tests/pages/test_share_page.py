"""Share links on the tiny Llama (AppTest): the URL restores a view, tampered parameters give a notice."""

from __future__ import annotations

import json

import pytest
from page_kit import open_page
from plotly.colors import get_colorscale

from core import share_state

PROMPT = "Links carry </script> and 🙂 too."


def _open(make_app, page: str, **params):
    return open_page(make_app, page, params=params)


def _params(at) -> dict[str, str]:
    return {key: value[-1] if isinstance(value, list) else value for key, value in at.query_params.items()}


def test_attention_choices_and_prompt_travel_in_the_url(make_app):
    blob = share_state.encode_state({"prompt": PROMPT})
    at = _open(make_app, "attention", attn_layer="1", attn_head="3", attn_tab="Heads of a layer",
               attn_hide_first="1", s=blob)
    assert at.text_area(key="prompt").value == PROMPT
    assert at.selectbox(key="attn_layer").value == 1 and at.selectbox(key="attn_head").value == 3
    assert at.toggle(key="attn_hide_first").value is True
    assert at.session_state["attn_tab"] == "Heads of a layer"
    assert not at.warning
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["title"]["text"] == "Layer 1"  # the layer's heads, not one head
    params = _params(at)  # the app writes the same view back to the URL
    assert {k: params[k] for k in ("attn_layer", "attn_head", "attn_tab", "attn_hide_first")} == {
        "attn_layer": "1", "attn_head": "3", "attn_tab": "Heads of a layer", "attn_hide_first": "1"}
    assert share_state.decode_state(params["s"]) == {"prompt": PROMPT}


def test_a_changed_view_is_written_to_the_url(make_app):
    at = _open(make_app, "attention")
    assert "attn_layer" not in _params(at) and "s" not in _params(at)  # defaults keep the link short
    at.text_area(key="prompt").set_value("A new prompt").run()
    at.selectbox(key="attn_layer").set_value(1).run()
    params = _params(at)
    assert params["attn_layer"] == "1"
    assert share_state.decode_state(params["s"]) == {"prompt": "A new prompt"}
    sidebar_code = [c.value for c in at.sidebar.code]
    assert any("attn_layer=1" in code and "s=" in code for code in sidebar_code), sidebar_code


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"attn_layer": "99"}, "layer 99"),
        ({"attn_tab": "<script>alert(1)</script>"}, "attn_tab"),
        ({"model": "no-such-model"}, "model"),
        ({"s": "A" * 30_000}, "at most 24,000"),
        ({"s": "not-a-blob"}, "damaged"),
        ({"attn_head": "'; DROP"}, "not an integer"),
        ({"whatever": "1"}, "not a setting of this page"),
    ],
)
def test_tampered_links_fall_back_to_defaults_with_a_notice(make_app, params, expected):
    at = _open(make_app, "attention", **params)
    notices = " ".join(w.value for w in at.warning)
    assert expected in notices, notices
    assert at.selectbox(key="attn_layer").value == 0 and at.session_state["attn_tab"] == "One head"
    assert at.text_area(key="prompt").value.startswith("The capital of France")
    assert "<script>" not in "".join(at.get("markdown")[i].value for i in range(len(at.get("markdown"))))


def test_generation_settings_travel(make_app):
    at = _open(make_app, "generation", genpage_tab="Logit lens", gen_do_sample="1", gen_temperature="0.35",
               gen_seed="7", gen_max_new_tokens="12")
    assert at.session_state["genpage_tab"] == "Logit lens"
    assert at.toggle(key="gen_do_sample").value is True
    assert at.slider(key="gen_temperature").value == pytest.approx(0.35)
    assert at.number_input(key="gen_seed").value == 7 and at.number_input(key="gen_max_new_tokens").value == 12
    assert not at.warning
    params = _params(at)
    assert (params["gen_temperature"], params["gen_seed"], params["genpage_tab"]) == ("0.35", "7", "Logit lens")


def test_prompt_strategies_task_travels(make_app):
    task = {"instruction": "Label it.", "examples": [["good film", "positive"], ["bad film", "negative"]],
            "query": "A fine film", "few_k": 2, "format": "plain"}
    at = _open(make_app, "prompting", pr_preset="News topic", s=share_state.encode_state({"task": task}))
    assert at.selectbox(key="pr_preset").value == "News topic"
    base = at.session_state["pr_base"]
    assert (base["instruction"], base["query"], base["few_k"]) == ("Label it.", "A fine film", 2)
    assert [list(e) for e in base["examples"]] == task["examples"]
    params = _params(at)
    assert params["pr_preset"] == "News topic"
    assert share_state.decode_state(params["s"])["task"] == task


def test_presenter_mode_enlarges_charts_and_folds_the_explanation(make_app):
    plain = _open(make_app, "attention")
    shown = _open(make_app, "attention", present="1")
    before, after = (json.loads(a.get("plotly_chart")[0].proto.spec)["layout"] for a in (plain, shown))
    assert after["height"] == pytest.approx(before["height"] * 1.5, abs=1)
    assert after["font"]["size"] == 18
    colors = [json.loads(a.get("plotly_chart")[0].proto.spec)["data"][0]["colorscale"] for a in (plain, shown)]
    assert [c for _, c in colors[0]] == [c for _, c in get_colorscale("Blues")]
    assert [c for _, c in colors[1]] == [c for _, c in get_colorscale("Cividis")]  # greyscale- and colour-blind safe
    assert any("font-size" in h.proto.body for h in shown.get("html"))
    assert len(shown.expander) > len(plain.expander)  # the intro paragraph folded away
    assert _params(shown)["present"] == "1"


def test_lesson_preset_fills_the_prompt_and_shows_its_note(make_app):
    at = _open(make_app, "attention")
    title = next(o for o in at.selectbox(key="lesson_attention").options if o.startswith("Coreference"))
    at.selectbox(key="lesson_attention").set_value(title).run()
    assert at.text_area(key="prompt").value == "The animal didn't cross the street because it was too tired."
    assert any("' it'" in c.value for c in at.caption)


def test_lesson_preset_on_prompt_strategies_loads_its_task(make_app):
    at = _open(make_app, "prompting")
    at.selectbox(key="lesson_prompting").set_value("In-context learning: news topics").run()
    assert not at.exception
    assert at.selectbox(key="pr_preset").value == "News topic"
    assert at.session_state["pr_base"]["query"] == "Goalkeeper injured in training ahead of the final"


def test_why_page_choices_and_texts_travel(make_app):
    blob = share_state.encode_state({"why_clean": "The Louvre is in the city of"})
    at = _open(make_app, "why", why_tab="Activation patching", why_ind_n="12", s=blob)
    assert at.session_state["why_tab"] == "Activation patching"
    assert at.text_input(key="why_clean").value == "The Louvre is in the city of"
    assert not [w.value for w in at.warning if "link" in w.value], [w.value for w in at.warning]
    params = _params(at)
    assert params["why_tab"] == "Activation patching" and params["why_ind_n"] == "12"
    assert share_state.decode_state(params["s"]) == {"why_clean": "The Louvre is in the city of"}


def test_presenter_mode_styles_the_why_charts(make_app):
    charts = []
    for present in ("0", "1"):
        at = _open(make_app, "why", why_tab="Induction heads", present=present)
        chart = next(c for c in at.get("plotly_chart") if "why_ind_heat" in c.proto.id)
        charts.append(json.loads(chart.proto.spec))
    before, after = (chart["layout"] for chart in charts)
    assert after["height"] == pytest.approx(before["height"] * 1.5, abs=1)
    assert after["font"]["size"] == 18
    assert [c for _, c in charts[1]["data"][0]["colorscale"]] == [c for _, c in get_colorscale("Cividis")]
    assert [c for _, c in charts[0]["data"][0]["colorscale"]] == [c for _, c in get_colorscale("Viridis")]


def _embedding_layer(at) -> tuple[str, int]:
    slider = next(s for s in at.slider if s.key.startswith("emb_layer_"))
    return slider.key, slider.value


def test_embeddings_choices_travel(make_app):
    at = _open(make_app, "embeddings", emb_layer="0", emb_skip_first="0", emb_dims="3", emb_nn_k="7")
    assert _embedding_layer(at)[1] == 0
    assert next(t for t in at.toggle if t.key.startswith("emb_skip_first_")).value is False
    assert at.radio(key="emb_dims").value == 3 and at.number_input(key="emb_nn_k").value == 7
    assert not [w.value for w in at.warning if "link" in w.value], [w.value for w in at.warning]
    params = _params(at)
    assert {k: params[k] for k in ("emb_layer", "emb_skip_first", "emb_dims", "emb_nn_k")} == {
        "emb_layer": "0", "emb_skip_first": "0", "emb_dims": "3", "emb_nn_k": "7"}


def test_a_changed_embeddings_layer_is_written_to_the_url(make_app):
    at = _open(make_app, "embeddings")
    key, default = _embedding_layer(at)
    assert "emb_layer" not in _params(at)  # the model's default keeps the link short
    at.slider(key=key).set_value(0 if default else 1).run()
    assert _params(at)["emb_layer"] == str(0 if default else 1)


@pytest.mark.parametrize(("params", "expected"), [({"emb_layer": "99"}, "layer 99"),
                                                   ({"emb_dims": "4"}, "emb_dims"),
                                                   ({"emb_nn_k": "x"}, "not an integer")])
def test_tampered_embeddings_link_gives_a_notice_and_the_default(make_app, params, expected):
    plain = _open(make_app, "embeddings")
    at = _open(make_app, "embeddings", **params)
    notices = " ".join(w.value for w in at.warning)
    assert expected in notices, notices
    assert _embedding_layer(at) == _embedding_layer(plain)
    assert at.radio(key="emb_dims").value == 2 and at.number_input(key="emb_nn_k").value == 10
    assert "emb_layer" not in _params(at)

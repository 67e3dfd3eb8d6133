"""The Generation page on the tiny Llama: every tab renders, sliders reuse the logits, steps add tokens."""

from __future__ import annotations

import html
import json

import numpy as np
import pytest
from page_kit import open_page
from plotly_arrays import plotly_array

import core
from core import prediction
from core.tokens import token_label
from ui import widgets
from ui.markdown import md_code

HOSTILE = "</script><script>alert(1)</script> <img src=x onerror=alert(1)> 👍"
TABS = ["Next token", "Settings on the same logits", "Step through", "Greedy vs sampling", "Logit lens"]


def _open(make_app, tab: str = "Next token", **state):
    return open_page(make_app, "generation", genpage_tab=tab, **state)


def _trace(at, index: int = 0, trace: int = 0) -> dict:
    return json.loads(at.get("plotly_chart")[index].proto.spec)["data"][trace]


def _count_calls(monkeypatch, owner, name: str) -> list:
    calls, original = [], getattr(owner, name)

    def counted(*args, **kwargs):
        calls.append(args[1:])
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


@pytest.fixture(scope="module")
def reference(tiny_llama):
    """What the page must show for the default prompt, computed straight from core."""
    return core.analyze(tiny_llama, widgets.DEFAULT_PROMPT).next_token_logits


# What each tab must draw (a chart title or subplot title), and the control a person uses there.
TAB_CONTENT = {
    "Next token": ("Next-token candidates", "genpage_word"),
    "Settings on the same logits": ("tokens kept", None),
    "Step through": ("Next-token candidates", "genpage_step_next"),
    "Greedy vs sampling": (None, "genpage_generate"),
    "Logit lens": ("Logit lens", None),
}


def _chart_titles(at) -> list[str]:
    titles = []
    for chart in at.get("plotly_chart"):
        layout = json.loads(chart.proto.spec)["layout"]
        texts = [layout.get("title", {}).get("text", "")] + [a.get("text", "") for a in layout.get("annotations", [])]
        titles.append(" | ".join(texts))
    return titles


@pytest.mark.parametrize("tab", TABS)
def test_every_tab_renders_its_own_view(make_app, tab):
    at = _open(make_app, tab)
    title, control = TAB_CONTENT[tab]
    titles = _chart_titles(at)
    if title is None:  # nothing is generated before the button is pressed
        assert titles == [] and any("Press Generate" in c.value for c in at.caption)
    else:
        assert len(titles) == 1 and title in titles[0], titles  # lazy tabs: only the open tab ran
    if control is not None:
        assert control in {w.key for w in (*at.button, *at.text_input)}


def test_candidates_chart_shows_the_models_top_tokens(make_app, tiny_llama, reference):
    at = _open(make_app, genpage_top_n=5)
    bar = _trace(at)
    probs = prediction.softmax(reference)
    np.testing.assert_allclose(plotly_array(bar["x"]), np.sort(probs)[::-1][:5], rtol=1e-5)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    top = token_label(tiny_llama.tokenizer, int(np.argmax(probs)))
    assert spec["layout"]["yaxis"]["ticktext"][0] == top
    at.text_input(key="genpage_word").set_value(tiny_llama.tokenizer.decode([int(np.argmax(probs))])).run()
    assert any("rank **1**" in m.value for m in at.markdown)


def test_typed_word_that_is_empty_gets_a_message(make_app):
    at = _open(make_app, genpage_word="")
    assert any("Type a token" in w.value for w in at.warning)


def test_moving_sampling_settings_never_reruns_the_model(make_app, monkeypatch):
    at = _open(make_app, "Settings on the same logits", gen_do_sample=True, gen_top_k=3)
    assert at.metric[0].value == "3"
    analyses = _count_calls(monkeypatch, core, "analyze")
    at.sidebar.number_input(key="gen_top_k").set_value(6).run()
    assert at.metric[0].value == "6"
    after = _trace(at, trace=1)
    assert (plotly_array(after["x"])[6:] == 0).all() and plotly_array(after["x"])[:6].sum() > 0
    at.sidebar.slider(key="gen_temperature").set_value(0.3).run()
    at.sidebar.slider(key="gen_top_p").set_value(0.0).run()
    assert at.metric[0].value == "1"  # top-p 0 keeps only the best token, no crash
    assert any("Top-p 0 keeps only" in m.value for m in at.markdown)
    assert not at.exception
    assert analyses == []


def test_temperature_zero_and_huge_top_k_are_explained(make_app):
    at = _open(make_app, "Settings on the same logits", gen_do_sample=True, gen_temperature=0.0, gen_top_k=50_000)
    text = " ".join(m.value for m in at.markdown)
    assert "Temperature 0 means **greedy**" in text and "more than the vocabulary" in text
    assert at.metric[0].value == "1"


def test_step_button_adds_the_greedy_tokens_one_at_a_time(make_app, tiny_llama):
    [greedy] = core.generate(tiny_llama, [widgets.DEFAULT_PROMPT], core.GenerationSettings(max_new_tokens=2))
    at = _open(make_app, "Step through")
    at.button(key="genpage_step_next").click().run()
    at.button(key="genpage_step_next").click().run()
    assert at.session_state["genpage_steps"]["ids"] == greedy.token_ids.tolist()
    label = token_label(tiny_llama.tokenizer, int(greedy.token_ids[1]))
    assert any(f"Step 2 chose {md_code(label)}" in m.value for m in at.markdown)
    assert html.escape(greedy.token_texts[1]) in at.get("html")[-1].proto.body
    history = at.dataframe[-1].value
    assert history["id"].tolist() == greedy.token_ids.tolist()
    np.testing.assert_allclose(history["probability"], np.exp(greedy.logprobs), rtol=1e-4)
    at.button(key="genpage_step_undo").click().run()
    assert at.session_state["genpage_steps"]["ids"] == greedy.token_ids[:1].tolist()
    at.button(key="genpage_step_reset").click().run()
    assert at.session_state["genpage_steps"]["ids"] == []
    assert not at.exception


def test_greedy_and_seeded_samples_stream_then_replay(make_app, tiny_llama, monkeypatch):
    settings = {"gen_max_new_tokens": 6, "gen_temperature": 1.5, "gen_seed": 11, "genpage_n_samples": 3}
    at = _open(make_app, "Greedy vs sampling", **settings)
    at.button(key="genpage_generate").click().run()
    assert not at.exception
    expected = core.generate(
        tiny_llama, [widgets.DEFAULT_PROMPT] * 3,
        core.GenerationSettings(max_new_tokens=6, do_sample=True, temperature=1.5, seed=11),
    )
    [greedy] = core.generate(tiny_llama, [widgets.DEFAULT_PROMPT], core.GenerationSettings(max_new_tokens=6))
    bodies = [h.proto.body for h in at.get("html")]
    assert len(bodies) == 4
    for body, completion in zip(bodies, [greedy, *expected]):
        assert all(html.escape(t) in body for t in completion.token_texts)
    assert sum("finish: length" in c.value for c in at.caption) == 4
    streams = _count_calls(monkeypatch, core, "stream_generate")
    at.run()  # a rerun replays the recorded runs
    assert [h.proto.body for h in at.get("html")] == bodies
    assert streams == []


def test_logit_lens_heatmap_has_a_row_per_layer(make_app, tiny_llama):
    at = _open(make_app, "Logit lens")
    heat = _trace(at)
    n_tokens = len(core.tokenize(tiny_llama, widgets.DEFAULT_PROMPT))
    assert plotly_array(heat["z"]).shape == (tiny_llama.info.layers + 1, min(n_tokens, 32))


@pytest.mark.parametrize("tab", TABS)
def test_hostile_prompt_is_shown_as_text(make_app, tab):
    at = _open(make_app, tab, prompt=HOSTILE)
    if tab == "Step through":
        at.button(key="genpage_step_next").click().run()
        body = at.get("html")[-1].proto.body
        assert "<script>" not in body and html.escape("</script><script>") in body
    assert not at.exception


@pytest.mark.parametrize(("prompt", "message"), [("   ", "empty"), ("word " * 20_000, "context window")])
def test_bad_prompts_get_a_message_not_a_crash(make_app, prompt, message):
    at = _open(make_app, prompt=prompt)
    assert any(message in w.value for w in at.warning)
    assert not at.get("plotly_chart")


def test_encoder_model_is_explained(make_app, tiny_bert_path):
    at = make_app()
    at.session_state["model_choice"] = widgets.CUSTOM
    at.session_state["model_custom"] = str(tiny_bert_path)
    at.run()
    at.switch_page("app_pages/generation.py").run()
    assert not at.exception
    assert any("encoder" in w.value for w in at.info)

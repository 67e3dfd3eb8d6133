"""The Adapt page under AppTest on the tiny Llama: steer, fine-tune with the defaults, compare, bad input."""

from __future__ import annotations

from pathlib import Path

from plotly_arrays import plotly_array
from streamlit.testing.v1 import AppTest

from core.runtime import hooks
from ui.caching import cache

PAGE = "app_pages/adapt.py"
ROOT = Path(__file__).resolve().parents[2]


def _open(app_env) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


def _charts(at: AppTest) -> dict[str, dict]:
    import json

    return {chart.proto.id: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def _ways_tables(at: AppTest) -> list:
    return [frame.value for frame in at.dataframe if "way" in frame.value.columns]


def test_fine_tune_with_defaults_then_compare(app_env):
    at = _open(app_env)
    assert [t.label for t in at.tabs] == ["Steer", "Fine-tune (LoRA)", "Compare"]
    assert any("‖vector‖" in m.label for m in at.metric)
    assert any("Trains **" in c.value for c in at.caption)
    # The tiny model's context is 128 tokens: a short instruction and one shot keep the prompts inside it.
    at.text_input(key="ad_instruction_Movie-review sentiment").set_value("Sentiment?")
    at.number_input(key="ad_few_k").set_value(1)
    at.button(key="ad_train").click().run()
    assert not at.exception, at.exception
    assert any("Done" in s.value for s in at.success), [s.value for s in at.success]
    specs = [spec for spec in _charts(at).values() if spec["layout"]["title"]["text"] == "Loss on the label tokens"]
    assert specs and len(plotly_array(specs[0]["data"][0]["y"])) > 1
    bought = _ways_tables(at)[0]
    assert list(bought["way"])[0] == "base zero-shot" and len(bought) == 4
    assert list(bought["parameters_changed"]) == [0, 0, 1792, 1792]  # r = 8 on q and v of the tiny Llama
    assert bought["accuracy"].between(0, 1).all()
    assert at.get("download_button")
    titles = [spec["layout"]["title"]["text"] for spec in _charts(at).values()]
    assert "Where LoRA changed the weights" in titles and any(t.startswith("Logit lens") for t in titles)
    assert any(t.endswith("attention after − before") for t in titles)
    at.button(key="ad_compare").click().run()
    assert not at.exception, at.exception
    table = _ways_tables(at)[-1]
    assert list(table["parameters_changed"]) == [0, 0, 0, 1792, 1792]
    assert list(table["way"]) == ["zero-shot", "few-shot (k=1)", "steered zero-shot", "fine-tuned zero-shot",
                                  "fine-tuned few-shot (k=1)"]
    assert hooks.hooks_left(cache.get_model(str(app_env))) == 0


def test_bad_split_is_a_message(app_env):
    at = _open(app_env)
    at.slider(key="ad_heldout").set_value(0.6).run()
    assert not at.exception
    at.selectbox(key="ad_data").set_value("Upload a CSV (text,label)").run()
    assert not at.exception
    assert any("Upload a CSV" in i.value for i in at.info)


def test_an_encoder_gets_a_message(app_env, tiny_bert_path, monkeypatch):
    monkeypatch.setenv("LLM_LENS_MODEL", str(tiny_bert_path))
    at = _open(app_env)
    assert any("is an encoder" in i.value for i in at.info)
    assert not at.tabs


def test_lesson_presets_fill_the_steer_prompt_and_the_data(app_env):
    at = _open(app_env)
    at.selectbox(key="ad_data").set_value("News topic").run()
    at.selectbox(key="lesson_adapt").set_value("Fine-tuning: LoRA on movie reviews").run()
    assert at.selectbox(key="ad_data").value == "Movie-review sentiment"
    at.text_input(key="ad_steer_prompt").set_value("Something else").run()
    at.selectbox(key="lesson_adapt").set_value("Steering: a sentiment direction").run()
    assert not at.exception, at.exception
    assert at.text_input(key="ad_steer_prompt").value == "I went to the store and"
    assert any("P(positive)" in c.value for c in at.caption if c.value.startswith("🎓"))


def test_the_adapt_choices_travel_in_a_share_link(app_env):
    from core import share_state

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    params = {"ad_tabs": "Fine-tune (LoRA)", "ad_steer_layer": "1", "ad_alpha": "-4", "ad_rank": "16",
              "ad_lr": "1e-3", "ad_epochs": "2", "ad_data": "News topic", "ad_few_k": "2",
              "s": share_state.encode_state({"steer_prompt": "The weather </script> 🙂"})}
    for key, value in params.items():
        at.query_params[key] = value
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert not at.warning, [w.value for w in at.warning]
    assert at.session_state["ad_tabs"] == "Fine-tune (LoRA)"
    assert at.slider(key="ad_steer_layer").value == 1 and at.slider(key="ad_alpha").value == -4.0
    assert at.select_slider(key="ad_rank").value == "16" and at.select_slider(key="ad_lr").value == "1e-3"
    assert at.number_input(key="ad_epochs").value == 2 and at.number_input(key="ad_few_k").value == 2
    assert at.selectbox(key="ad_data").value == "News topic"
    assert at.text_input(key="ad_steer_prompt").value == "The weather </script> 🙂"
    assert any("Trains **3,584**" in c.value for c in at.caption)  # r = 16: twice r = 8 (1,792)
    written = {key: value[-1] if isinstance(value, list) else value for key, value in at.query_params.items()}
    assert {key: written[key] for key in params if key != "s"} == {k: v for k, v in params.items() if k != "s"}
    assert share_state.decode_state(written["s"]) == {"steer_prompt": "The weather </script> 🙂"}


def test_a_tampered_adapt_link_is_a_notice_and_the_defaults(app_env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    for key, value in {"ad_rank": "3", "ad_steer_layer": "99", "ad_lr": "<b>x</b>"}.items():
        at.query_params[key] = value
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    notices = " ".join(w.value for w in at.warning)
    assert "ad_rank" in notices and "ad_lr" in notices and "layer 99" in notices, notices
    assert at.select_slider(key="ad_rank").value == "8"
    assert at.slider(key="ad_steer_layer").value == 0  # the tiny Llama's 2 layers // 3

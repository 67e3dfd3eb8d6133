"""LLM_LENS_ALLOW_OTHER_MODELS in the sidebar: off, an allow-list, or any folder; paths never shown."""

from __future__ import annotations

from ui import widgets


def test_off_removes_the_other_field_and_refuses_a_forced_folder(make_app, tiny_gpt2_path, monkeypatch):
    monkeypatch.setenv("LLM_LENS_ALLOW_OTHER_MODELS", "off")
    at = make_app()
    at.session_state["model_choice"] = widgets.CUSTOM  # e.g. kept from before the operator's change
    at.session_state["model_custom"] = str(tiny_gpt2_path)
    at.run()
    assert not at.exception
    options = at.sidebar.selectbox(key="model_choice").options
    assert not any(o.startswith("Other") for o in options)
    assert "tiny-llama" in options  # the operator's LLM_LENS_MODEL, by its folder name
    assert not any("/" in o for o in options)
    assert not at.sidebar.text_input  # no free-text model field at all


def test_allow_list_offers_exactly_the_listed_models_by_name(make_app, tiny_gpt2_path, monkeypatch):
    monkeypatch.setenv("LLM_LENS_ALLOW_OTHER_MODELS", str(tiny_gpt2_path))
    at = make_app().run()
    assert not at.exception
    options = at.sidebar.selectbox(key="model_choice").options
    assert options == ["tiny-llama", "SmolLM2-135M-Instruct", "all-MiniLM-L6-v2", "tiny-gpt2"]
    assert not at.sidebar.text_input


def _load_chosen_model():
    from ui import widgets

    widgets.current_model()


def test_allow_list_refuses_a_name_outside_it_with_a_message(app_env, tiny_bert_path, tiny_gpt2_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("LLM_LENS_ALLOW_OTHER_MODELS", str(tiny_gpt2_path))
    at = AppTest.from_function(_load_chosen_model, default_timeout=60)
    at.session_state["model_name"] = str(tiny_bert_path)  # a stale or forged choice
    at.run()
    assert not at.exception
    messages = " ".join(e.value for e in at.error)
    assert "only offers its own models" in messages and "tiny-gpt2" in messages
    assert str(tiny_bert_path.parent) not in messages


def test_default_policy_keeps_the_free_field(make_app, monkeypatch):
    monkeypatch.delenv("LLM_LENS_ALLOW_OTHER_MODELS", raising=False)
    at = make_app()
    at.session_state["model_choice"] = widgets.CUSTOM
    at.run()
    assert at.sidebar.text_input(key="model_custom")

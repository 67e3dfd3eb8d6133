"""Switching models in the sidebar: choices whose options come from the model start afresh, never stale."""

from __future__ import annotations

from pathlib import Path

import pytest
import tiny_models
from streamlit.testing.v1 import AppTest

from ui import widgets

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def deep_llama_path(tmp_path_factory):
    """A tiny Llama with 6 layers, standing in for the 30-layer SmolLM2 next to a 2-layer encoder."""
    return tiny_models.tiny_llama(tmp_path_factory.mktemp("deep") / "deep-llama", layers=6)


def _switch_to(at: AppTest, folder) -> None:
    at.sidebar.selectbox(key="model_choice").set_value(widgets.CUSTOM).run()
    at.sidebar.text_input(key="model_custom").set_value(str(folder)).run()
    assert not at.exception, at.exception


def _app(monkeypatch, model, page: str, **state) -> AppTest:
    monkeypatch.setenv("LLM_LENS_MODEL", str(model))
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def test_bertviz_layers_follow_the_model(monkeypatch, deep_llama_path, tiny_bert_path):
    at = _app(monkeypatch, deep_llama_path, "app_pages/attention.py", attn_tab="bertviz")
    deep = at.multiselect(key=widgets.scoped_key("attn_bv_layers", str(deep_llama_path)))
    assert deep.options == [str(i) for i in range(6)] and deep.value == [0, 3, 5]
    deep.set_value([4, 5]).run()
    assert at.main.get("iframe"), at.warning
    _switch_to(at, tiny_bert_path)
    small = at.multiselect(key=widgets.scoped_key("attn_bv_layers", str(tiny_bert_path)))
    assert small.options == ["0", "1"] and small.value == [0, 1]  # the encoder's own default, not [4, 5]
    assert at.main.get("iframe") and not at.warning
    _switch_to(at, deep_llama_path)  # and back: valid choices for the deep model again
    again = at.multiselect(key=widgets.scoped_key("attn_bv_layers", str(deep_llama_path)))
    assert again.options == deep.options and set(again.value) <= set(range(6)) and at.main.get("iframe")


def test_lora_targets_follow_the_model(monkeypatch, tiny_llama_path, tiny_bert_path):
    at = _app(monkeypatch, tiny_llama_path, "app_pages/lifecycle.py")
    llama = at.multiselect(key=widgets.scoped_key("life_lora_targets", str(tiny_llama_path)))
    assert llama.value and all(name in llama.options for name in llama.value)
    llama.set_value(llama.options[:1]).run()
    _switch_to(at, tiny_bert_path)
    bert = at.multiselect(key=widgets.scoped_key("life_lora_targets", str(tiny_bert_path)))
    assert bert.value and set(bert.value) <= set(bert.options)
    assert not set(bert.options) & set(llama.options)  # BERT names its matrices differently
    assert not at.warning  # a stale choice would have left no matrix chosen
    assert {m.label for m in at.metric} >= {"Full fine-tuning trains"}


def test_model_size_defaults_follow_the_model(monkeypatch, deep_llama_path, tiny_bert_path):
    at = _app(monkeypatch, deep_llama_path, "app_pages/model_size.py", size_tab="Any size (1B, 7B, 70B…)")
    at.text_input(key="size_custom").set_value("7B").run()
    assert at.number_input(key=widgets.scoped_key("size_custom_layers", str(deep_llama_path))).value == 6
    _switch_to(at, tiny_bert_path)
    at.text_input(key="size_custom").set_value("7B").run()
    assert at.number_input(key=widgets.scoped_key("size_custom_layers", str(tiny_bert_path))).value == 2

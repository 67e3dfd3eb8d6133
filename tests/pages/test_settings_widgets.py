"""The shared generation settings widgets: greedy by default, sampling values passed through, gen_ keys."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _app():
    import streamlit as st

    from ui.settings import LABEL_TOKENS, generation_settings

    settings = generation_settings(LABEL_TOKENS, stop=("\n",))
    st.session_state["seen"] = settings


def test_greedy_by_default_with_disabled_sampling_controls():
    at = AppTest.from_function(_app, default_timeout=60).run()
    assert not at.exception
    settings = at.session_state["seen"]
    assert settings.do_sample is False and settings.max_new_tokens == 5 and settings.stop == ("\n",)
    assert at.slider(key="gen_temperature").disabled and at.number_input(key="gen_seed").disabled
    assert all(w.key.startswith("gen_") for w in [*at.slider, *at.number_input, *at.toggle])


def test_sampling_values_reach_the_settings():
    at = AppTest.from_function(_app, default_timeout=60).run()
    at.toggle(key="gen_do_sample").set_value(True).run()
    at.slider(key="gen_temperature").set_value(0.7)
    at.slider(key="gen_top_p").set_value(0.9)
    at.number_input(key="gen_top_k").set_value(40)
    at.number_input(key="gen_seed").set_value(123)
    at.number_input(key="gen_label_tokens").set_value(12).run()
    settings = at.session_state["seen"]
    assert (settings.do_sample, settings.temperature, settings.top_p) == (True, 0.7, 0.9)
    assert (settings.top_k, settings.seed, settings.max_new_tokens) == (40, 123, 12)
    assert not at.slider(key="gen_temperature").disabled

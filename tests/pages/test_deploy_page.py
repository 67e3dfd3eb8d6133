"""The Deploy page on the tiny Llama: every section measures when asked and shows its chart."""

from __future__ import annotations

import json

import pytest

from core.deploy import kv_cache
from ui import widgets
from ui.sections import deploy_ui

RUN_BUTTONS = {
    "KV cache": ("deploy_kv_run", ["deploy_kv_growth", "deploy_kv_steps"]),
    "Prefill vs decode": ("deploy_pd_run", ["deploy_pd_chart"]),
    "Batching": ("deploy_batch_run", ["deploy_batch_chart"]),
    "Prefix caching": ("deploy_prefix_run", ["deploy_prefix_chart"]),
    "Weight formats": ("deploy_formats_run", ["deploy_formats_chart"]),
    "Capacity planner": ("deploy_plan_run", ["deploy_plan_chart"]),
}


def _open(make_app, tab: str, **state):
    at = make_app()
    for key, value in {"deploy_tab": tab, "deploy_batch_max": 4, **state}.items():
        at.session_state[key] = value
    at.switch_page("app_pages/deploy.py").run()
    assert not at.exception, at.exception
    return at


def _charts(at) -> dict[str, dict]:
    return {key: json.loads(c.proto.spec) for c in at.get("plotly_chart")
            for key in [k for k in _all_chart_keys() if k in c.proto.id]}


def _all_chart_keys() -> list[str]:
    return [key for _, keys in RUN_BUTTONS.values() for key in keys]


@pytest.mark.parametrize("tab", deploy_ui.TABS)
def test_every_section_measures_and_draws(make_app, tab):
    button, charts = RUN_BUTTONS[tab]
    at = _open(make_app, tab)
    at.button(key=button).click().run()
    assert not at.exception, at.exception
    drawn = _charts(at)
    for key in charts:
        assert drawn[key]["data"], key
    assert not at.warning or tab == "Weight formats", [w.value for w in at.warning]


def test_kv_cache_section_shows_the_formula_and_the_real_bytes(make_app, tiny_llama):
    at = _open(make_app, "KV cache")
    size = kv_cache.cache_size(tiny_llama, widgets.DEFAULT_PROMPT)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Formula, bytes per token"] == f"{size.formula_bytes_per_token:,}" == "256"
    assert any(label.startswith("Real cache") and value == "256" for label, value in metrics.items())
    assert "2.0×" in metrics.values()  # 4 query heads share 2 key/value heads
    assert any("users** of 128 tokens each" in md.value for md in at.markdown)  # the tiny model's whole window


def test_a_prompt_past_the_context_window_is_a_message(make_app):
    at = _open(make_app, "KV cache", prompt="word " * 700)
    assert any("context window" in w.value or "limited to" in w.value for w in at.warning), \
        [w.value for w in at.warning]


def test_an_encoder_gets_a_clear_message(make_app, tiny_bert_path):
    at = make_app()
    at.session_state["model_choice"] = widgets.CUSTOM
    at.session_state["model_custom"] = str(tiny_bert_path)
    at.run()
    at.switch_page("app_pages/deploy.py").run()
    assert not at.exception, at.exception
    assert any("encoder" in i.value for i in at.info)
    assert not at.get("plotly_chart") and not at.button


def test_the_open_tab_and_token_counts_travel_in_a_share_link(make_app):
    at = make_app()
    at.query_params["deploy_tab"] = "Batching"
    at.query_params["deploy_batch_new"] = "5"
    at.switch_page("app_pages/deploy.py").run()
    assert not at.exception, at.exception
    assert at.session_state["deploy_tab"] == "Batching"
    assert at.number_input(key="deploy_batch_new").value == 5
    params = {k: v[-1] if isinstance(v, list) else v for k, v in at.query_params.items()}
    assert params["deploy_tab"] == "Batching" and params["deploy_batch_new"] == "5"


def test_the_quantized_copy_holds_its_size_in_the_byte_budget_only_while_it_lives(make_app, monkeypatch):
    from core.deploy import quant_quality
    from ui.caching import cache

    seen = []
    real = quant_quality.measure_formats
    monkeypatch.setattr(quant_quality, "measure_formats",
                        lambda *a, **k: (seen.append(cache.RESULTS.pinned_bytes), real(*a, **k))[1])
    at = _open(make_app, "Weight formats", deploy_formats_new=2)
    at.button(key="deploy_formats_run").click().run()
    assert not at.exception, at.exception
    assert seen and seen[0] >= quant_quality.copy_bytes(cache.get_model(widgets.model_key()))
    assert cache.RESULTS.pinned_bytes == 0  # freed with the copy


def test_a_copy_larger_than_the_byte_budget_is_a_message(make_app, monkeypatch):
    from ui.caching import cache

    monkeypatch.setattr(cache.RESULTS, "budget_bytes", 1_000)
    at = _open(make_app, "Weight formats", deploy_formats_new=3)
    at.button(key="deploy_formats_run").click().run()
    assert not at.exception, at.exception
    assert any("memory budget" in w.value and "CACHE" in w.value for w in at.warning), [w.value for w in at.warning]


def test_a_plan_past_the_context_window_is_a_message_before_any_measurement(make_app):
    at = _open(make_app, "Capacity planner", deploy_plan_in=100, deploy_plan_out=100)
    assert any("context window is 128" in w.value for w in at.warning), [w.value for w in at.warning]
    assert not at.button


def test_a_torchao_format_is_measured_when_chosen_and_explained(make_app):
    from core.deploy import quant_quality

    at = _open(make_app, "Weight formats", deploy_formats_new=2)
    at.multiselect(key="deploy_formats").set_value(["float32", quant_quality.INT8_WEIGHT_ONLY]).run()
    at.button(key="deploy_formats_run").click().run()
    assert not at.exception, at.exception
    assert all("context window is 128" in w.value for w in at.warning)  # the tiny model holds no sentiment shots
    table = next(frame.value for frame in at.dataframe if "format" in frame.value.columns)
    assert table["format"].tolist() == ["float32", quant_quality.INT8_WEIGHT_ONLY]
    assert table["decode_tokens_per_second"].gt(0).all()
    assert any("Int8WeightOnlyConfig" in m.value for m in at.markdown)
    at.multiselect(key="deploy_formats").set_value([]).run()
    assert any("at least one weight format" in i.value for i in at.info)

"""RNN vs Transformer, Model size and Lifecycle pages on the tiny Llama (AppTest, no browser)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from page_kit import open_page
from plotly_arrays import plotly_array

from ui import widgets
from ui.sections.model_size_ui import SIZE_TABS

HOSTILE = "</script><script>alert(1)</script> <img src=x onerror=alert(1)> 👍🏽"


def _spec(chart) -> dict:
    return json.loads(chart.proto.spec)


def _latex(at) -> str:
    return "\n".join(element.proto.body for element in at.get("latex"))


# --- RNN vs Transformer ---


def test_rnn_page_shows_steps_table_and_three_gradient_curves(make_app):
    at = open_page(make_app, "rnn_vs_transformer")
    table = at.dataframe[0].value.set_index("measure")
    steps = int(table.loc["sequential steps", "RNN (tanh)"])
    assert steps > 5 and table.loc["sequential steps", "Self-attention"] == "1"
    assert int(table.loc["path first → last token", "RNN (tanh)"]) == steps - 1
    spec = _spec(at.get("plotly_chart")[0])
    assert [trace["name"] for trace in spec["data"]] == ["RNN (tanh)", "GRU", "Self-attention"]
    assert spec["layout"]["yaxis"]["type"] == "log"
    rnn, attention = plotly_array(spec["data"][0]["y"]), plotly_array(spec["data"][2]["y"])
    assert len(rnn) == steps and rnn[-1] == pytest.approx(1.0)
    assert rnn[0] < attention[0] / 100  # the first token gets far less gradient through the RNN


def test_rnn_page_random_embeddings_and_seed_change_the_numbers(make_app):
    at = open_page(make_app, "rnn_vs_transformer")
    before = plotly_array(_spec(at.get("plotly_chart")[0])["data"][0]["y"])
    at.radio(key="rnn_embedding").set_value("random").run()
    assert not at.exception
    after = plotly_array(_spec(at.get("plotly_chart")[0])["data"][0]["y"])
    assert len(after) == len(before) and not np.allclose(after, before)


def test_rnn_page_hostile_sentence_is_shown_as_text(make_app):
    at = open_page(make_app, "rnn_vs_transformer")
    at.text_area(key="prompt").set_value(HOSTILE).run()
    assert not at.exception
    labels = "".join(_spec(at.get("plotly_chart")[0])["data"][0]["customdata"])
    assert "<" not in labels and "&lt;" in labels  # tokens reach plotly escaped, so no tag is parsed
    assert "alert" in labels


@pytest.mark.parametrize("text,message", [("   ", "empty"), ("word " * 20_000, "limited to 256 tokens")])
def test_rnn_page_bad_sentence_is_a_warning(make_app, text, message):
    at = open_page(make_app, "rnn_vs_transformer")
    at.text_area(key="prompt").set_value(text).run()
    assert not at.exception
    assert any(message in w.value for w in at.warning), [w.value for w in at.warning]
    assert not at.get("plotly_chart")


# --- Model size ---


def test_model_size_breakdown_sums_to_the_model_total(make_app):
    at = open_page(make_app, "model_size")
    components = at.dataframe[0].value
    assert components["parameters"].sum() == 31_392  # the tiny Llama's parameter count
    assert any("31,392, which equals" in c.value for c in at.caption)
    assert plotly_array(_spec(at.get("plotly_chart")[0])["data"][0]["x"]).sum() == 31_392


def test_model_size_shows_formulas_with_the_numbers(make_app):
    at = open_page(make_app, "model_size")
    latex = _latex(at)
    # Tiny Llama: 2 layers, 2 KV heads of 8 dims, context 128 (its whole window), batch 1, fp16.
    assert r"&= 2 \times 2 \times 2 \times 8 \times 128 \times 1 \times 2 \\ &= 16{,}384\ \text{bytes}" in latex
    assert r"31{,}392 \times 2\ (\text{fp16}) \\ &= 62{,}784" in latex
    assert "7{,}000{,}000{,}000" not in latex  # lazy tabs: the other tab did not run


def test_model_size_any_size_tab_defaults_to_7b(make_app):
    at = open_page(make_app, "model_size", size_tab=SIZE_TABS[1])
    # 7B in fp16: 14 GB of weights; the KV cache uses the loaded model's shape by default.
    latex = _latex(at)
    assert r"7{,}000{,}000{,}000 \times 2\ (\text{fp16}) \\ &= 14{,}000{,}000{,}000" in latex
    assert "31{,}392" not in latex


def test_model_size_custom_size_and_batch(make_app):
    at = open_page(make_app, "model_size", size_tab=SIZE_TABS[1])
    at.text_input(key="size_custom").set_value("70B").run()
    at.number_input(key="size_batch").set_value(4).run()
    assert not at.exception
    latex = _latex(at)
    assert r"70{,}000{,}000{,}000 \times 2\ (\text{fp16}) \\ &= 140{,}000{,}000{,}000" in latex
    assert r"\times 128 \times 4 \times 2 \\ &= 65{,}536" in latex


@pytest.mark.parametrize("size", ["seven billion", "<script>alert(1)</script>", "0"])
def test_model_size_bad_custom_size_is_a_warning(make_app, size):
    at = open_page(make_app, "model_size", size_tab=SIZE_TABS[1])
    at.text_input(key="size_custom").set_value(size).run()
    assert not at.exception
    assert at.warning and ("7B" in at.warning[0].value or "at least 1" in at.warning[0].value)


def test_model_size_names_the_three_families(make_app):
    at = open_page(make_app, "model_size")
    families = at.dataframe[-1].value
    assert list(families["family"]) == ["Encoder-only", "Decoder-only", "Encoder-decoder"]
    assert any("is **Decoder-only**" in m.value for m in at.markdown)


# --- Lifecycle ---


def test_lifecycle_checklist_links_every_stage(make_app):
    at = open_page(make_app, "lifecycle")
    assert len(at.checkbox) == 8
    targets = {link.proto.page for link in at.get("page_link")}
    # Every other page of the course is linked from some stage (page links name the URL path).
    assert targets == {"tokens", "embeddings", "attention", "generation", "prompting", "rnn_vs_transformer",
                       "model_size", "deploy"}
    html = at.get("html")[0].proto.body
    assert "0 of 8 stages done" in html
    at.checkbox(key="life_done_scope").check().run()
    at.checkbox(key="life_done_deploy").check().run()
    assert "2 of 8 stages done" in at.get("html")[0].proto.body


def test_lifecycle_lora_counts_on_real_shapes(make_app):
    at = open_page(make_app, "lifecycle")
    # Default q and v, rank 8, tiny Llama: 2 × 8 × (32 + 32) + 2 × 8 × (32 + 16) = 1,792.
    assert r"&= 2 \times 8 \times (32 + 32) \\ &\quad + 2 \times 8 \times (32 + 16) \\ &= 1{,}792" in _latex(at)
    at.select_slider(key="life_lora_rank").set_value(4).run()
    assert r"&= 896\end{aligned}" in _latex(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Full fine-tuning trains"] == "31,392"


def test_lifecycle_no_matrix_chosen_is_a_warning(make_app, app_env):
    at = open_page(make_app, "lifecycle")
    at.multiselect(key=widgets.scoped_key("life_lora_targets", str(app_env))).set_value([]).run()
    assert not at.exception
    assert any("at least one matrix" in w.value for w in at.warning)


def test_lifecycle_quantization_runs_on_demand(make_app):
    at = open_page(make_app, "lifecycle")
    at.button(key="life_quantize").click().run()
    assert not at.exception
    metrics = {m.label: m for m in at.metric}
    assert "smaller" in metrics["Size float32 → int8"].delta
    agreement = metrics["Same next-token prediction"].value
    assert 0 <= int(agreement.rstrip("%")) <= 100

"""The Why this token? page on the tiny Llama: every tab renders and shows what core computes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from page_kit import open_page
from plotly_arrays import plotly_array as _array

from core.why import attribution, interventions, logit_attribution
from ui import widgets
from ui.sections import why_ui

HOSTILE = "<img src=x onerror=alert(1)></script>"  # short: the tiny tokenizer splits it into single bytes


def _open(make_app, tab: str, **state):
    return open_page(make_app, "why", why_tab=tab, **state)


def _chart(at, key: str) -> dict:
    for chart in at.get("plotly_chart"):
        if chart.proto.id and key in chart.proto.id:
            return json.loads(chart.proto.spec)
    raise AssertionError(f"no chart {key}")


@pytest.mark.parametrize("tab, chart", zip(why_ui.TABS, ["why_attr_bars", "why_attr_bars", "why_dla_bars",
                                                           "why_ablate", None, "why_ind_heat"]))
def test_every_tab_renders(make_app, tab, chart):
    at = _open(make_app, tab)
    if chart is None:  # patching waits for its button (or explains why the prompts do not fit)
        assert at.text_input(key="why_clean").value == why_ui.CLEAN
        assert at.button(key="why_patch_run") if not at.warning else "token" in at.warning[0].value
    else:
        assert _chart(at, chart)["data"]


def test_input_attribution_shows_the_completeness_check(make_app):
    at = _open(make_app, why_ui.TABS[0])
    labels = [m.label for m in at.metric]
    assert "Completeness error" in labels and "Σ attributions" in labels
    assert any("convergence delta" in c.value for c in at.caption)


def test_a_one_token_prompt_is_a_message_not_an_infinite_error(make_app, tiny_llama):
    text = next(t for t in ("a", "A", "x", " ") if len(interventions.prompt_ids(tiny_llama, t)) == 1)
    at = _open(make_app, why_ui.TABS[0], prompt=text)
    assert any("at least 2 prompt tokens" in w.value for w in at.warning), [w.value for w in at.warning]
    assert not [m for m in at.metric if m.label == "Completeness error"]


def test_input_attribution_explains_the_logit_on_request(make_app, tiny_llama):
    at = _open(make_app, why_ui.TABS[0])
    assert at.radio(key="why_score").value == "logprob"
    at.radio(key="why_score").set_value("logit").run()
    assert not at.exception, at.exception
    ids = interventions.prompt_ids(tiny_llama, widgets.DEFAULT_PROMPT)
    logits = interventions.run_ablated(tiny_llama, ids, [()])[0, -1]
    shown = next(m for m in at.metric if m.label == "f(input)")
    assert float(shown.value) == pytest.approx(float(logits.max()), abs=1e-3)  # the top token's raw logit
    assert any("Integrated gradients** of `logit(" in md.value for md in at.markdown)


def _attribution(steps: int, delta: float, tried: tuple[int, ...] = ()) -> attribution.InputAttribution:
    return attribution.InputAttribution(ids=(1, 2), target=3, contrast=None, steps=steps, kind="logprob",
                                        integrated=np.zeros(2), grad_x_input=np.zeros(2), score=-1.0,
                                        baseline_score=-3.0, delta=delta, tried=tried)


def test_a_converged_integral_says_how_many_steps_it_took():
    result = _attribution(64, 0.016, (32, 64))  # 0.8% of the gap of 2
    assert why_ui.completeness_warning(result) is None
    assert why_ui.convergence_note(result) == ("Integrated gradients converged with 64 steps (tried 32, 64), "
                                               "completeness error 0.8%.")
    capped = _attribution(64, 0.5, (32, 64))
    assert "64-step integral (tried 32, 64) has not converged" in why_ui.completeness_warning(capped)


def test_input_attribution_reports_the_steps_it_used(make_app, tiny_llama):
    at = _open(make_app, why_ui.TABS[0])
    ids = interventions.prompt_ids(tiny_llama, widgets.DEFAULT_PROMPT)
    logits = interventions.run_ablated(tiny_llama, ids, [()])[0, -1]
    expected = attribution.attribute_converged(tiny_llama, ids, int(np.argmax(logits)))
    assert expected.converged  # the tiny model's integral converges within the cap: no warning
    assert why_ui.convergence_note(expected) in [c.value for c in at.caption]
    assert not at.warning


def test_an_unconverged_integral_gets_a_warning_with_what_to_do():
    assert why_ui.completeness_warning(_attribution(32, 0.1)) is None  # 5% of the gap of 2
    note = why_ui.completeness_warning(_attribution(32, -0.5))
    assert "25%" in note and "32-step" in note and "up to 64" in note
    assert "cap" in why_ui.completeness_warning(_attribution(attribution.MAX_STEPS, 0.5))


def test_dla_heatmap_matches_core(make_app, tiny_llama):
    at = _open(make_app, why_ui.TABS[2])
    ids = interventions.prompt_ids(tiny_llama, widgets.DEFAULT_PROMPT)
    logits = interventions.run_ablated(tiny_llama, ids, [()])[0, -1]
    expected = logit_attribution.logit_attribution(tiny_llama, ids, int(np.argmax(logits)))
    heat = _chart(at, "why_dla_heads")["data"][0]
    np.testing.assert_allclose(_array(heat["z"]), expected.heads, atol=1e-5)
    residual = next(m for m in at.metric if m.label == "Residual")
    assert abs(float(residual.value)) < 1e-4


def test_head_scan_runs_from_its_button(make_app):
    at = _open(make_app, why_ui.TABS[3], why_heads=["0.1"])
    at.button(key="why_scan").click().run()
    assert not at.exception, at.exception
    scan = _chart(at, "why_scan_chart")["data"][0]
    assert _array(scan["z"]).shape == (2, 4)
    assert len(at.dataframe) == 1


def test_patching_explains_unequal_lengths(make_app):
    at = _open(make_app, why_ui.TABS[4], why_corrupt="Hi")
    assert any("equal token length" in w.value for w in at.warning)


def test_patching_and_induction_run(make_app):
    at = _open(make_app, why_ui.TABS[4], why_clean="The capital of France is", why_corrupt="The capital of Paris is")
    at.button(key="why_patch_run").click().run()
    assert not at.exception, at.exception
    if at.warning:  # the random tiny model may predict the same token for both: the page says so
        assert "same top prediction" in at.warning[0].value
    else:
        assert _chart(at, "why_patch_resid")
    at = _open(make_app, why_ui.TABS[5])
    assert _chart(at, "why_ind_heat")
    assert any(b.label.startswith("Open ") for b in at.button)


def test_typed_and_answer_targets(make_app):
    at = _open(make_app, why_ui.TABS[0], why_target_mode=why_ui.TARGET_MODES[1], why_typed=" Paris and more")
    assert any("splits into" in c.value for c in at.caption)
    at = _open(make_app, why_ui.TABS[2], why_target_mode=why_ui.TARGET_MODES[2])
    assert at.selectbox(key="why_answer_pos").options


def test_hostile_prompt_stays_text(make_app):
    at = _open(make_app, why_ui.TABS[0], prompt=HOSTILE)
    shaded = [h.proto.body for h in at.get("html")]
    assert shaded and all("<script>" not in body and "<img" not in body for body in shaded)
    assert any("&lt;" in body and "&gt;" in body for body in shaded)  # shown, as text


def test_bad_input_is_a_warning(make_app):
    at = _open(make_app, why_ui.TABS[0], prompt="word " * 200)
    assert any("limited to 64 tokens" in w.value or "context window" in w.value for w in at.warning)
    at = _open(make_app, why_ui.TABS[0], prompt="   ")
    assert any("empty" in w.value for w in at.warning)


def test_open_button_shows_that_head_on_the_attention_page(make_app):
    at = _open(make_app, why_ui.TABS[5])
    button = next(b for b in at.button if b.label.startswith("Open "))
    layer, head = (int(v) for v in button.label.split()[1].split("."))
    button.click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="attn_layer").value == layer and at.selectbox(key="attn_head").value == head


def test_attention_head_table_has_the_induction_column(make_app, tiny_llama):
    # The column is the induction score on the user's prompt: a prompt that repeats gives numbers.
    text = "one two three four one two three four"
    at = make_app()
    at.session_state["attn_tab"] = "Head table"
    at.switch_page("app_pages/attention.py").run()
    at.text_area(key="prompt").set_value(text).run()
    assert not at.exception, at.exception
    frame = at.dataframe[0].value
    from core import analysis
    from core.why import induction

    result = analysis.analyze(tiny_llama, text)
    expected = induction.induction_scores(result.attention, result.tokens.ids).ravel()
    np.testing.assert_allclose(frame["induction"].to_numpy(dtype=float), expected, atol=1e-6)


@pytest.mark.slow
def test_the_default_view_on_the_real_model_converges_without_a_warning(real_model_cache, monkeypatch):
    # What a student first sees: the default prompt, its top token, log p, on the bundled SmolLM2.
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("XDG_CACHE_HOME", str(real_model_cache))
    monkeypatch.setenv("LLM_LENS_MODEL", "SmolLM2-135M-Instruct")
    root = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(root)
    at = AppTest.from_file(str(root / "app.py"), default_timeout=600)
    at.session_state["why_tab"] = why_ui.TABS[0]
    at.switch_page("app_pages/why.py").run()
    assert not at.exception, at.exception
    assert not at.warning, [w.value for w in at.warning]
    assert any(c.value.startswith("Integrated gradients converged with 64 steps (tried 32, 64)")
               for c in at.caption), [c.value for c in at.caption]

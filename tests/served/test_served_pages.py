"""AppTest of the served backend hooks on the tiny Llama: the sidebar choice, the weights notice, a hostile
endpoint name. The stub answers only so these pages have a server without starting one; chips and ranking
from real log-probabilities are tested on a real vLLM (tests/vllm/test_vllm_pages.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from remote_kit import free_port
from streamlit.testing.v1 import AppTest

from core import prompting
from ui.sections import prompting_eval_ui

ROOT = Path(__file__).resolve().parents[2]


def _app(monkeypatch, endpoints: dict | None, page: str, backend: str | None = None, model: str | None = None,
         state: dict | None = None):
    if endpoints is None:
        monkeypatch.delenv("LLM_LENS_ENDPOINTS", raising=False)
    else:
        monkeypatch.setenv("LLM_LENS_ENDPOINTS", json.dumps(endpoints))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if backend:
        at.session_state["srv_backend"] = backend
    if model:
        at.session_state[f"srv_model_{backend}"] = model
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.switch_page(str(ROOT / page))
    at.run()
    assert not at.exception, at.exception
    return at


def test_no_endpoint_no_backend_choice(app_env, monkeypatch):
    at = _app(monkeypatch, None, "app_pages/prompting.py")
    assert not [s for s in at.sidebar.selectbox if s.label == "Backend"]
    assert any("context window is 128" in w.value for w in at.warning)  # the local path ran, on the tiny model


def test_closed_port_warns_in_the_sidebar_and_the_page_still_works(app_env, monkeypatch):
    at = _app(monkeypatch, {"down": f"http://127.0.0.1:{free_port()}/v1"}, "app_pages/prompting.py", "down")
    assert any("connection refused" in w.value for w in at.sidebar.warning)
    assert any("context window is 128" in w.value for w in at.warning)  # falls back to this app's model


def test_weight_pages_say_they_need_the_weights(app_env, monkeypatch, stub_url):
    at = _app(monkeypatch, {"stub": stub_url}, "app_pages/attention.py", "stub", "logprobs")
    assert any("needs the model's weights" in i.value and "Other" in i.value for i in at.info)


def test_the_deploy_page_says_it_measures_this_apps_model(app_env, monkeypatch, stub_url):
    at = _app(monkeypatch, {"stub": stub_url}, "app_pages/deploy.py", "stub", "logprobs")
    assert any("**Deploy** needs the model's weights" in i.value for i in at.info)
    assert any(m.label == "Formula, bytes per token" for m in at.metric)  # measured on this app's tiny model


def test_a_hostile_model_name_stays_text(app_env, monkeypatch, stub_url):
    at = _app(monkeypatch, {"<b>x</b>": stub_url}, "app_pages/prompting.py", "<b>x</b>", "logprobs")
    caption = next(c.value for c in at.caption if c.value.startswith("Answered by"))
    assert "\\<b\\>x\\</b\\>" in caption


@pytest.mark.parametrize("backend", [None, "stub"])
def test_a_bad_shot_is_a_warning_on_both_backends(app_env, monkeypatch, stub_url, backend):
    # One page section serves both backends: the comparison names the bad example, the evaluation points to it.
    experiment = {"preset": "Movie-review sentiment", "instruction": "Sentiment?", "query": "So dull", "few_k": 1,
                  "format": "plain", "sweep": [0, 1], "examples": [["Loved it", "positive"]],
                  "items": [["Fun film", "positive"]]}
    state: dict = {}
    prompting_eval_ui.apply_experiment(state, prompting.experiment_from_json(
        prompting.experiment_to_json(experiment).encode()), "bad.json")
    state["pr_base"]["examples"] = [["Loved it", "positive"], ["Hated it", ""]]  # shot 2 has no label
    at = _app(monkeypatch, {"stub": stub_url}, "app_pages/prompting.py", backend, backend and "logprobs", state)
    warnings = [w.value for w in at.warning]
    assert sum("Example 2 needs both a text and a label" in w for w in warnings) == 1, warnings
    assert any("Fix the examples above" in w for w in warnings), warnings
    assert not [i.value for i in at.info if "examples" in i.value]
    assert not [b for b in at.button if b.key in ("pr_evaluate", "srv_evaluate")]
    assert bool([c for c in at.caption if c.value.startswith("Answered by")]) == (backend is not None)

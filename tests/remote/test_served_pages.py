"""AppTest of the served backend hooks on the tiny Llama: the sidebar choice, the weights notice, and
the stub server for what `transformers serve` cannot do (log-probabilities, so chips and ranking)."""

from __future__ import annotations

import json
from pathlib import Path

from remote_kit import free_port
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def _app(monkeypatch, endpoints: dict | None, page: str, backend: str | None = None, model: str | None = None):
    if endpoints is None:
        monkeypatch.delenv("LLM_LENS_ENDPOINTS", raising=False)
    else:
        monkeypatch.setenv("LLM_LENS_ENDPOINTS", json.dumps(endpoints))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if backend:
        at.session_state["srv_backend"] = backend
    if model:
        at.session_state[f"srv_model_{backend}"] = model
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


def test_served_columns_show_chips_when_the_server_sends_logprobs(app_env, monkeypatch, stub_url):
    at = _app(monkeypatch, {"stub": stub_url}, "app_pages/prompting.py", "stub", "logprobs")
    answers = [m.value for m in at.metric if m.label == "Answer"]
    assert answers == ["ok", "ok", "ok"]
    assert sum("llm-lens-chips" in h.proto.body for h in at.get("html")) == 3
    assert [r.label for r in at.radio if r.key == "srv_eval_mode"] == ["Scoring"]  # ranking offered


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


def test_generation_page_streams_greedy_and_samples_from_the_server(app_env, monkeypatch, stub_url):
    at = _app(monkeypatch, {"stub": stub_url}, "app_pages/generation.py", "stub", "logprobs")
    assert any("which a server does not send" in i.value for i in at.info)
    at.button(key="srv_generate").click().run()
    assert not at.exception, at.exception
    texts = [c.value for c in at.code]
    assert texts.count(" ok") == 1 + 4  # greedy and the 4 default samples
    assert sum("llm-lens-chips" in h.proto.body for h in at.get("html")) == 5

"""The app's pages on a real vLLM: the Generation page's confidence chips show vLLM's log-probabilities, a
served adapter is a model of the endpoint that can rank labels, and one made for another base model is flagged."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import core
from core.served import remote, remote_calls
from core.served.remote import Endpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vllm_kit  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.timeout(vllm_kit.TIMEOUT)]
ROOT = Path(__file__).resolve().parents[2]


def _app(monkeypatch, server: vllm_kit.VllmServer, page: str, model: str) -> AppTest:
    monkeypatch.setenv("LLM_LENS_ENDPOINTS", json.dumps({"vllm": server.base_url}))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.session_state["srv_backend"] = "vllm"
    at.session_state["srv_model_vllm"] = model
    at.switch_page(str(ROOT / page))
    at.run()
    assert not at.exception, at.exception
    return at


def test_generation_page_shows_the_servers_logprobs(app_env, monkeypatch, vllm_server):
    at = _app(monkeypatch, vllm_server, "app_pages/generation.py", vllm_server.model)
    at.number_input(key="srv_gen_samples").set_value(1)
    at.button(key="srv_generate").click().run()
    assert not at.exception, at.exception
    chips = [h.proto.body for h in at.get("html") if "llm-lens-chips" in h.proto.body]
    assert len(chips) == 2  # greedy and one sample
    shown = [float(p) for p in re.findall(r"p = ([0-9.]+)", chips[0])]
    prompt = at.text_area(key="prompt").value
    direct = remote_calls.complete(remote.client(Endpoint("vllm", vllm_server.base_url)), vllm_server.model,
                                   prompt, core.GenerationSettings(max_new_tokens=len(shown)))
    np.testing.assert_allclose(shown, np.exp(direct.logprobs), atol=1e-3)  # the page shows vLLM's numbers


@pytest.mark.usefixtures("needs_adapters")
def test_a_served_adapter_is_a_model_of_the_endpoint_with_ranking(app_env, monkeypatch, vllm_server):
    at = _app(monkeypatch, vllm_server, "app_pages/prompting.py", vllm_kit.ADAPTER_NAME)
    choices = next(s for s in at.sidebar.selectbox if s.key == "srv_model_vllm")
    assert {vllm_server.model, vllm_kit.ADAPTER_NAME} <= set(choices.options)
    assert not at.sidebar.error
    assert [r.label for r in at.radio if r.key == "srv_eval_mode"] == ["Scoring"]  # the probe found echo


@pytest.mark.usefixtures("needs_adapters")
def test_an_adapter_for_another_base_model_is_flagged_in_the_sidebar(app_env, monkeypatch, vllm_server):
    at = _app(monkeypatch, vllm_server, "app_pages/prompting.py", vllm_kit.OTHER_ADAPTER_NAME)
    assert any("for another base model" in e.value for e in at.sidebar.error)

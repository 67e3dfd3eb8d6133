"""Generate-and-match through a real vLLM equals in-process greedy answers; its per-token log-probabilities
match the in-process ones and reach the Generation page's confidence chips."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import core
from core import prompt_eval, prompting, remote, remote_calls, remote_eval
from core.remote import Endpoint

pytestmark = [pytest.mark.vllm, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
LABEL = core.GenerationSettings(max_new_tokens=5, stop=("\n",))  # the Prompt strategies page's settings
ITEMS = 6


@pytest.mark.parametrize("preset", ["Movie-review sentiment", "News topic"])
def test_generate_and_match_equals_in_process(vllm_server, smollm2, preset):
    task = prompting.PRESETS[preset]
    pairs = tuple(map(tuple, prompting.load_eval_set(task).head(ITEMS)[["text", "label"]].values.tolist()))
    request = remote_eval.EvalRequest(task.instruction, task.examples, pairs, LABEL, task.few_k, (), 1)
    result = remote_eval.evaluate(Endpoint("vllm", vllm_server.base_url), vllm_server.model, request, {})
    local = prompt_eval.evaluate(smollm2, prompt_eval.EvalRequest(
        task.instruction, task.examples, pairs, LABEL, task.few_k, mode="generate"))
    assert result.error is None and result.items_done == ITEMS
    served_items = result.evaluation.items.drop(columns=["text", "label"])
    assert served_items.equals(local.items.drop(columns=["text", "label"]))  # every answer, not just accuracy


def test_greedy_tokens_and_logprobs_equal_in_process(vllm_server, smollm2):
    api = remote.client(Endpoint("vllm", vllm_server.base_url))
    settings = core.GenerationSettings(max_new_tokens=8)
    for prompt in ("The capital of France is", prompting.PRESETS["News topic"].query):
        served = remote_calls.complete(api, vllm_server.model, prompt, settings)
        local = core.generate(smollm2, [prompt], settings)[0]
        assert served.text == local.text
        assert served.token_texts == local.token_texts
        np.testing.assert_allclose(served.logprobs, local.logprobs, atol=1e-3)
    assert remote_calls.complete(api, vllm_server.model, "The capital of France is",
                                 core.GenerationSettings(max_new_tokens=2)).text == " Paris."


def test_generation_page_shows_the_servers_logprobs(app_env, monkeypatch, vllm_server):
    monkeypatch.setenv("LLM_LENS_ENDPOINTS", json.dumps({"vllm": vllm_server.base_url}))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.session_state["srv_backend"] = "vllm"
    at.session_state["srv_model_vllm"] = vllm_server.model
    at.switch_page(str(ROOT / "app_pages/generation.py"))
    at.run()
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

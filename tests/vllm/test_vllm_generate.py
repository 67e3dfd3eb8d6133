"""Generate-and-match through a real vLLM equals in-process greedy answers, and its per-token log-probabilities
match the in-process ones."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import core
from core import prompting
from core.prompting import prompt_eval
from core.served import remote, remote_calls, remote_eval
from core.served.remote import Endpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vllm_kit  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.timeout(vllm_kit.TIMEOUT)]
LABEL = core.GenerationSettings(max_new_tokens=5, stop=("\n",))  # the Prompt strategies page's settings
ITEMS = 6


@pytest.mark.parametrize("preset", ["Movie-review sentiment", "News topic"])
def test_generate_and_match_equals_in_process(vllm_server, smollm2, preset):
    task = prompting.PRESETS[preset]
    pairs = tuple(map(tuple, prompting.load_eval_set(task).head(ITEMS)[["text", "label"]].values.tolist()))
    request = remote_eval.EvalRequest(task.instruction, task.examples, pairs, LABEL, task.few_k, (), 1, mode="generate")
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

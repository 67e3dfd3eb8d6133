"""Bad input on a real vLLM: an adapter the server does not serve, a prompt past max_model_len, a server that
goes away and comes back mid-evaluation. Each gives a clear message, and answers already in are kept."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from core import prompting
from core.sampling import GenerationSettings
from core.served import remote_eval, served_lora
from core.served.remote import Endpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vllm_kit  # noqa: E402
from proxy import Relay  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.timeout(vllm_kit.TIMEOUT)]
LABEL = GenerationSettings(max_new_tokens=5, stop=("\n",))
TASK = prompting.PRESETS["Movie-review sentiment"]


def _request(items, mode="rank") -> remote_eval.EvalRequest:
    return remote_eval.EvalRequest(TASK.instruction, TASK.examples, tuple(items), LABEL, TASK.few_k, (), 1,
                                   fmt="plain", mode=mode)


def _items(n: int) -> list[tuple[str, str]]:
    return list(map(tuple, prompting.load_eval_set(TASK).head(n)[["text", "label"]].values.tolist()))


def test_an_adapter_the_server_does_not_serve_names_the_fix(vllm_server):
    endpoint = Endpoint("vllm", vllm_server.base_url)
    result = remote_eval.evaluate(endpoint, "other-lora", _request(_items(2)), {})
    assert "'other-lora' is not served by 'vllm'" in result.error and vllm_server.model in result.error
    assert "--enable-lora --lora-modules" in result.error  # how to serve an adapter


@pytest.mark.parametrize("mode", ["rank", "generate"])
def test_a_prompt_past_max_model_len_is_explained_and_other_answers_kept(vllm_server, mode):
    long_text = "word " * 9000  # about 9,000 tokens; SmolLM2's max_model_len is 8,192
    items = [*_items(2), (long_text, "positive")]
    answers: dict = {}
    result = remote_eval.evaluate(Endpoint("vllm", vllm_server.base_url, concurrency=1), vllm_server.model,
                                  _request(items, mode), answers)
    assert "8192" in result.error and "(400)" in result.error
    assert result.items_done == 2 and len(result.evaluation.items) == 2  # the answerable items are scored


def test_a_server_restart_mid_evaluation_keeps_answers_and_resumes(vllm_server):
    relay = Relay(urlparse(vllm_server.base_url).port)
    endpoint = Endpoint("vllm", relay.base_url, concurrency=2)
    request = _request(_items(6), "generate")  # 18 prompts
    answers: dict = {}

    def progress(fraction, message):
        if len(answers) >= 6 and relay.is_up:
            relay.down()  # the server goes away while requests are in flight

    try:
        stopped = remote_eval.evaluate(endpoint, vllm_server.model, request, answers, progress)
        assert stopped.error and "connection refused" in stopped.error
        assert 6 <= stopped.answered < stopped.requests and stopped.items_done >= 1
        kept = dict(answers)
        relay.up()  # back on the same port
        resumed = remote_eval.evaluate(endpoint, vllm_server.model, request, answers)
    finally:
        relay.down()
    assert resumed.error is None and resumed.answered == resumed.requests and resumed.items_done == 6
    assert all(answers[key] == value for key, value in kept.items())  # nothing asked twice or lost
    fresh = remote_eval.evaluate(Endpoint("vllm", vllm_server.base_url), vllm_server.model, request, {})
    assert fresh.evaluation.predictions.equals(resumed.evaluation.predictions)


@pytest.mark.usefixtures("needs_adapters")
def test_an_adapter_for_another_base_model_is_refused_before_sending(vllm_server):
    endpoint = Endpoint("vllm", vllm_server.base_url)
    assert served_lora.adapter_mismatch(endpoint, vllm_kit.ADAPTER_NAME) is None
    assert served_lora.adapter_mismatch(endpoint, vllm_server.model) is None  # the base model itself
    answers = {("kept", "positive"): -1.0}
    result = remote_eval.evaluate(endpoint, vllm_kit.OTHER_ADAPTER_NAME, _request(_items(2)), answers)
    assert "for another base model" in result.error and "hidden size 576" in result.error
    assert answers == {("kept", "positive"): -1.0} and result.answered == 0  # nothing sent, nothing lost

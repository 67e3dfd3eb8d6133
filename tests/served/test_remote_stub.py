"""Served-model plumbing against real conditions where they run here (a closed port) and a local stub for
what no real server can be made to do on demand: 429, 5xx then success, a non-JSON body, an empty `choices`
list, a 401 that echoes the key, a cancel at an exact request. Log-probabilities, ranking and the errors a
real server gives are tested against a real vLLM (tests/vllm/)."""

from __future__ import annotations

import socket
import threading

import httpx2
import openai
import pytest
from remote_kit import Stub, free_port

from core.prompting import PRESETS
from core.prompting.eval_request import EvalRequest
from core.sampling import GenerationSettings
from core.served import remote, remote_calls, remote_eval, remote_run
from core.served.remote import Endpoint, RemoteError

GREEDY = GenerationSettings(max_new_tokens=3)


def test_endpoints_from_json_and_secrets():
    env = {"LLM_LENS_ENDPOINTS": '{"team": {"base_url": "http://gpu:8000/v1/", "api_key_env": "K", '
                                 '"concurrency": 4}, "plain": "http://127.0.0.1:9/v1"}', "K": "sk-123"}
    found = remote.configured_endpoints({"lab": {"base_url": "https://lab.example/v1", "api_key": "s3"}}, env)
    assert list(found) == ["lab", "team", "plain"]
    assert found["team"] == Endpoint("team", "http://gpu:8000/v1", "sk-123", 4)
    assert found["plain"].concurrency == remote.DEFAULT_CONCURRENCY
    assert "sk-123" not in repr(found["team"]) and "sk-123" not in found["team"].cache_id
    assert found["team"].cache_id != Endpoint("team", "http://gpu:8000/v1", "other").cache_id


@pytest.mark.parametrize("config, message", [
    ("{not json", "not valid JSON"), ('["x"]', "must map"), ('{"a": {}}', "needs a 'base_url'"),
    ('{"a": "ftp://x"}', r"http\(s\) URL"), ('{"a": "http://u:p@host/v1"}', "not in the URL"),
    ('{"a": {"base_url": "http://h/v1", "concurrency": 0}}', "between 1 and 256"),
])
def test_bad_endpoint_config_names_the_problem(config, message):
    with pytest.raises(ValueError, match=message):
        remote.parse_endpoints(config, environ={})


def test_typed_urls_need_the_operator():
    with pytest.raises(ValueError, match="LLM_LENS_ALLOW_CUSTOM_ENDPOINT=1"):
        remote.custom_endpoint("http://127.0.0.1:8000/v1", environ={})
    typed = remote.custom_endpoint("http://127.0.0.1:8000/v1/", "k", {"LLM_LENS_ALLOW_CUSTOM_ENDPOINT": "1"})
    assert typed.base_url == "http://127.0.0.1:8000/v1" and typed.name == "127.0.0.1:8000"


def test_closed_port_says_connection_refused():
    endpoint = Endpoint("closed", f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(RemoteError, match="connection refused"):
        remote.list_models(endpoint)


def test_dns_failure_is_named():
    # Built by hand: a real lookup would leave this machine.
    request = httpx2.Request("GET", "http://no-such-host.invalid/v1/models")
    error = openai.APIConnectionError(request=request)
    error.__cause__ = socket.gaierror(-2, "Name or service not known")
    message = str(remote.explain(error, Endpoint("typo", "http://no-such-host.invalid/v1")))
    assert "could not be found (DNS)" in message and "no-such-host.invalid" in message


def _one(stub_url, model, **endpoint):
    api = remote.client(Endpoint("stub", stub_url, **endpoint))
    return lambda: remote_calls.complete(api, model, "Text: hi\nLabel:", GREEDY)


def test_429_is_retried_then_explained(stub_url):
    endpoint = Endpoint("stub", stub_url)
    before = conftest_calls("busy")
    with pytest.raises(openai.RateLimitError) as raised:
        remote_run.with_retries(_one(stub_url, "busy"), threading.Event(), retries=2, backoff=0.01)
    assert conftest_calls("busy") - before == 3  # the first try and two retries
    assert "rate-limiting (429)" in str(remote.explain(raised.value, endpoint))


def test_5xx_is_retried_until_it_works(stub_url):
    completion = remote_run.with_retries(_one(stub_url, "flaky"), threading.Event(), retries=3, backoff=0.01)
    assert completion.text == " ok"


def test_non_json_answer_is_explained(stub_url):
    with pytest.raises(Exception) as raised:
        _one(stub_url, "broken")()
    assert "not OpenAI-style JSON" in str(remote.explain(raised.value, Endpoint("stub", stub_url)))


def test_empty_choices_is_explained(stub_url):
    with pytest.raises(RemoteError, match="empty 'choices'"):
        _one(stub_url, "empty")()


def test_api_key_never_reaches_the_message(stub_url):
    endpoint = Endpoint("stub", stub_url, api_key="sk-very-secret")
    with pytest.raises(openai.AuthenticationError) as raised:
        _one(stub_url, "secret", api_key="sk-very-secret")()
    assert "sk-very-secret" in str(raised.value.body)  # the stub echoes it back…
    message = str(remote.explain(raised.value, endpoint))
    assert "401" in message and "sk-very-secret" not in message  # …and the message never shows it


def _request(mode="generate", n_items=6, fmt="plain"):
    task = PRESETS["Movie-review sentiment"]
    items = (("Great fun.", "positive"), ("Awful.", "negative"), ("Loved it.", "positive"),
             ("Dull.", "negative"), ("Superb.", "positive"), ("Boring.", "negative"))[:n_items]
    return EvalRequest(task.instruction, task.examples, items, GREEDY, 2, (0, 1, 2), 1, fmt, 0, mode)


def test_rank_mode_needs_the_completions_api():
    with pytest.raises(ValueError, match="needs the completions API"):
        remote_eval.plan(_request("rank", fmt="chat"))


def test_cancel_keeps_partial_results(stub_url):
    cancel, answers = threading.Event(), {}

    def progress(fraction, message):
        if len(answers) >= 6:
            cancel.set()

    endpoint = Endpoint("stub", stub_url, concurrency=1)
    result = remote_eval.evaluate(endpoint, "logprobs", _request(), answers, progress, cancel)
    assert result.cancelled and 6 <= result.answered < result.requests
    assert result.items_done >= 2 and len(result.evaluation.items) == result.items_done  # whole items only
    resumed = remote_eval.evaluate(endpoint, "logprobs", _request(), answers)
    assert resumed.answered == resumed.requests and resumed.items_done == 6


def test_a_failing_server_stops_the_run_and_keeps_answers(stub_url):
    answers = {prompt: "positive" for prompt in remote_eval.plan(_request())[3][:3]}
    result = remote_eval.evaluate(Endpoint("stub", stub_url, concurrency=2), "secret", _request(), answers)
    assert "401" in result.error and result.answered == 3 and result.items_done == 1


def conftest_calls(model: str) -> int:
    return Stub.calls.get(model, 0)

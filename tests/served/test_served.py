"""A real `transformers serve` of the bundled SmolLM2: the same greedy answers and accuracy as in-process,
and the errors of a wrong model name and of a server stopped mid-evaluation."""

from __future__ import annotations

import pytest
from remote_kit import start_server, stop_server

import core
from core import prompting
from core.prompting import prompt_eval
from core.served import remote, remote_eval
from core.served.remote import Endpoint, RemoteError

pytestmark = pytest.mark.slow
LABEL = core.GenerationSettings(max_new_tokens=5, stop=("\n",))  # the Prompt strategies page's settings
SUBSET = 6  # items of the bundled sentiment set: the full 30 × 4 shot counts take minutes on 2 shared cores


@pytest.fixture(scope="module")
def smol(smollm2):
    return smollm2  # the in-process model, from the same safetensors folder the server reads


def test_served_greedy_columns_equal_in_process(served, smol):
    base, model = served
    for task in prompting.PRESETS.values():
        prompts = prompting.strategy_prompts(task.instruction, task.examples, task.query, task.few_k, "plain")
        local = [prompting.extract_answer(c.text) for c in core.generate(smol, list(prompts), LABEL)]
        requests = [(p, LABEL, 0) for p in prompts]
        seen = []
        done = remote_eval.compare(Endpoint("serve", base), model, requests, seen.append)
        assert [prompting.extract_answer(c.text) for c in done] == local
        assert seen and all(len(texts) == 3 for texts in seen)  # streamed, three columns at a time
        assert all(c.logprobs is None for c in done)  # transformers serve 5.24 returns logprobs: null


def test_served_chat_turns_match_the_local_chat_prompt(served, smol):
    base, model = served
    task = prompting.PRESETS["Movie-review sentiment"]
    shots = task.examples[:2]
    turns = remote_eval.chat_messages(task.instruction, shots, task.query)
    rendered = smol.tokenizer.apply_chat_template([{"role": r, "content": c} for r, c in turns], tokenize=False,
                                                  add_generation_prompt=True)
    assert rendered == prompting.build_prompt(task.instruction, shots, task.query, "chat", smol.tokenizer)
    served_answer = remote_eval.compare(Endpoint("serve", base), model, [(turns, LABEL, 0)], lambda t: None)[0]
    local = core.generate(smol, [rendered], LABEL)[0]
    assert prompting.extract_answer(served_answer.text) == prompting.extract_answer(local.text)


def test_served_evaluation_has_the_in_process_accuracy(served, smol):
    base, model = served
    task = prompting.PRESETS["Movie-review sentiment"]
    items = prompting.load_eval_set(task).head(SUBSET)
    pairs = tuple(map(tuple, items[["text", "label"]].values.tolist()))
    request = prompt_eval.EvalRequest(task.instruction, task.examples, pairs, LABEL, task.few_k, (0, 1, 4), 1,
                                          mode="generate")
    result = remote_eval.evaluate(Endpoint("serve", base, concurrency=4), model, request, {})
    local = prompt_eval.evaluate(smol, prompt_eval.EvalRequest(
        task.instruction, task.examples, pairs, LABEL, task.few_k, ks=(0, 1, 4), mode="generate"))
    assert result.error is None and result.items_done == SUBSET
    assert list(result.evaluation.strategies["accuracy"]) == list(local.strategies["accuracy"])
    served_items = result.evaluation.items.drop(columns=["text", "label"])
    assert served_items.equals(local.items.drop(columns=["text", "label"]))  # every answer, not just the totals


def test_wrong_model_name_lists_the_served_one(served):
    base, model = served
    with pytest.raises(RemoteError, match="is not served by 'serve'; it serves: ") as raised:
        remote_eval.compare(Endpoint("serve", base), "no-such-model", [("Hi", LABEL, 0)], lambda t: None)
    assert model in str(raised.value)


def test_server_stopped_mid_evaluation_keeps_partial_results(tmp_path, served_folder):
    process, base, model = start_server(tmp_path / "serve.log", served_folder)
    answers: dict = {}

    def progress(fraction, message):
        if len(answers) >= 3 and process.poll() is None:
            stop_server(process)  # the server goes away while the evaluation is running

    try:
        task = prompting.PRESETS["Movie-review sentiment"]
        pairs = tuple(map(tuple, prompting.load_eval_set(task).head(4)[["text", "label"]].values.tolist()))
        request = prompt_eval.EvalRequest(task.instruction, task.examples, pairs, LABEL, task.few_k, (0, 1, 4), 1,
                                          mode="generate")
        result = remote_eval.evaluate(Endpoint("serve", base, concurrency=1), model, request, answers, progress)
    finally:
        if process.poll() is None:
            stop_server(process)
    assert result.error and "connection refused" in result.error
    assert 3 <= result.answered < result.requests and result.items_done >= 1
    assert len(result.evaluation.items) == result.items_done
    assert remote.is_transient(ConnectionError()) is False  # only API errors count as transient

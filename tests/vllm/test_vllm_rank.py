"""Rank the labels through a real vLLM equals in-process: per-label log-probabilities within 1e-3, same predictions.

The app asks for prompt log-probabilities with `echo` + `logprobs` on /v1/completions (core.served.remote_calls);
vLLM answers it, and the capability probe finds that out from the server, not from its name.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
from pathlib import Path

import pytest

from core import prompting
from core.prompting import label_scoring, prompt_eval
from core.sampling import GenerationSettings
from core.served import remote, remote_calls, remote_eval
from core.served.remote import Endpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vllm_kit  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.timeout(vllm_kit.TIMEOUT)]
GREEDY = GenerationSettings(max_new_tokens=5, stop=("\n",))  # the Prompt strategies page's settings
ITEMS = 6  # items per preset: × 3 strategies × its labels = 36 (sentiment) and 72 (topic) echo requests
TOLERANCE = 1e-3


def _pairs(task: prompting.Task, n: int = ITEMS) -> tuple[tuple[str, str], ...]:
    return tuple(map(tuple, prompting.load_eval_set(task).head(n)[["text", "label"]].values.tolist()))


def served_rank(server: vllm_kit.VllmServer, model: str, task: prompting.Task, pairs) -> tuple[dict, object]:
    """(answers keyed (prompt, label) → log-probability, the served evaluation) for zero/one/few-shot."""
    request = remote_eval.EvalRequest(task.instruction, task.examples, pairs, GREEDY, task.few_k, (), 1,
                                      fmt="plain", mode="rank")
    answers: dict = {}
    result = remote_eval.evaluate(Endpoint("vllm", server.base_url), model, request, answers)
    assert result.error is None, result.error
    return answers, result


def in_process_rank(model, task: prompting.Task, pairs) -> dict:
    """(prompt, label) → log-probability, scored by core.prompting.label_scoring as the in-process evaluation does."""
    texts = [text for text, _ in pairs]
    labels = prompt_eval.label_choices(task.examples, [label for _, label in pairs])
    scores = {}
    for run in prompt_eval.plan_runs(task.examples, (), task.few_k, 1):
        prefix, suffixes = prompt_eval.split_prompts(task.instruction, run.shots, texts, "plain", model.tokenizer)
        result = label_scoring.score_labels(model, prefix, suffixes, labels, delimiter=" ")
        for row, suffix in enumerate(suffixes):
            for column, label in enumerate(labels):
                scores[(prefix + suffix, label)] = float(result.logprob[row, column])
    return scores


def assert_same_scores(served: dict, local: dict) -> None:
    assert set(served) == set(local)  # the same prompts (character for character) and labels
    worst = max(abs(served[key] - local[key]) for key in local)
    assert worst < TOLERANCE, f"largest difference {worst:.2e}"


def test_the_probe_finds_log_probabilities_on_vllm(vllm_server):
    endpoint = Endpoint("vllm", vllm_server.base_url)
    for model in remote.list_models(endpoint):  # the base model and any adapter
        caps = remote_calls.probe(remote.client(endpoint), model)
        assert caps.token_logprobs and caps.prompt_logprobs, model


@pytest.mark.parametrize("preset", ["Movie-review sentiment", "News topic"])
def test_ranked_labels_equal_in_process(vllm_server, smollm2, preset):
    task = prompting.PRESETS[preset]
    pairs = _pairs(task)
    answers, served = served_rank(vllm_server, vllm_server.model, task, pairs)
    assert_same_scores(answers, in_process_rank(smollm2, task, pairs))
    local = prompt_eval.evaluate(smollm2, prompt_eval.EvalRequest(task.instruction, task.examples, pairs, GREEDY,
                                                                  task.few_k, mode="rank", shot_influence=False))
    columns = ["item", "k", "answer", "correct"]
    key = ["k", "item"]
    served_table = served.evaluation.predictions.sort_values(key)[columns].reset_index(drop=True)
    local_table = local.predictions.sort_values(key)[columns].reset_index(drop=True)
    assert served_table.equals(local_table)  # every prediction, zero-, one- and few-shot
    assert len(served_table) == 3 * ITEMS


@pytest.mark.usefixtures("needs_adapters")
def test_adapter_served_with_lora_equals_the_adapter_in_process(vllm_server, smollm2, adapter_folder):
    from peft import PeftModel

    assert vllm_kit.ADAPTER_NAME in remote.list_models(Endpoint("vllm", vllm_server.base_url))
    merged = PeftModel.from_pretrained(copy.deepcopy(smollm2.model), str(adapter_folder)).merge_and_unload()
    adapted = dataclasses.replace(smollm2, name=vllm_kit.ADAPTER_NAME, model=merged)
    task = prompting.PRESETS["Movie-review sentiment"]
    pairs = _pairs(task, 6)
    answers, _ = served_rank(vllm_server, vllm_kit.ADAPTER_NAME, task, pairs)
    local = in_process_rank(adapted, task, pairs)
    assert_same_scores(answers, local)
    base = in_process_rank(smollm2, task, pairs)
    assert max(abs(base[key] - local[key]) for key in local) > 0.05  # the adapter really changes the scores


def test_a_label_split_across_tokens_is_scored_whole(vllm_server, smollm2):
    # vLLM echoes the first byte-pieces of 🦜 as empty token texts: they count toward the label too.
    api = remote.client(Endpoint("vllm", vllm_server.base_url))
    prompt, labels = "Text: a bright green bird that talks\nLabel:", ["🦜", "parrot"]
    local = label_scoring.score_labels(smollm2, "", [prompt], labels, delimiter=" ", use_cache=False)
    served = [remote_calls.label_logprob(api, vllm_server.model, prompt, " " + label) for label in labels]
    assert local.n_tokens[0, 0] >= 2  # the emoji really is several tokens
    assert max(abs(s - v) for s, v in zip(served, local.logprob[0])) < TOLERANCE

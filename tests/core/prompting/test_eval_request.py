"""One request type for both backends: in-process and served evaluation build the same runs, prompts and predictions."""

from __future__ import annotations

import threading

import pytest

from core.prompting import prefix_generation, prompt_eval
from core.prompting.eval_request import EvalRequest, request_runs, served_api
from core.sampling import GenerationSettings
from core.served import remote_calls, remote_eval, served_lora
from core.served.remote import Endpoint

EXAMPLES = (("Loved it", "positive"), ("Hated it", "negative"), ("Great fun", "positive"), ("Dull", "negative"))
ITEMS = (("so good", "positive"), ("bad film", "negative"), ("Dull", "negative"), ("meh", "negative"),
         ("wow", "positive"))  # "Dull" is also a shot: both backends must leave it out
REQUEST = EvalRequest("Classify the sentiment.", EXAMPLES, ITEMS, GenerationSettings(max_new_tokens=2), few_k=3,
                      ks=(0, 2), shuffles=2, seed=5, mode="generate")
COLUMNS = ["item", "k", "shuffle", "answer", "label", "correct"]


def _answer(prompt: str) -> str:
    """A deterministic stand-in for the model: the answer depends on the prompt's text only."""
    return " positive\n" if sum(map(ord, prompt)) % 3 else " negative\n"


def _in_process(model, monkeypatch) -> tuple[prompt_eval.Evaluation, list[str]]:
    seen: list[str] = []

    def generate_after_prefix(model, prefix, suffixes, settings, batch, should_stop=None, on_batch=None):
        seen.extend(prefix + suffix for suffix in suffixes)
        return [_answer(prefix + suffix) for suffix in suffixes]

    monkeypatch.setattr(prefix_generation, "generate_after_prefix", generate_after_prefix)
    return prompt_eval.evaluate(model, REQUEST), seen


def _served(monkeypatch) -> tuple[remote_eval.ServedEvaluation, list[str]]:
    seen, lock = [], threading.Lock()

    def complete(api, model, prompt, settings, row=0, on_text=None):
        with lock:
            seen.append(prompt)
        return remote_calls.ServedCompletion(_answer(prompt).split("\n")[0], None, None, "stop", None, 0.0)

    monkeypatch.setattr(remote_calls, "complete", complete)
    monkeypatch.setattr(served_lora, "listed_models", lambda endpoint: {"m": {"id": "m"}})  # a server with no adapters
    endpoint = Endpoint("fake", "http://127.0.0.1:9/v1", concurrency=2)  # never contacted: both calls are replaced
    return remote_eval.evaluate(endpoint, "m", REQUEST, {}), seen


def test_both_backends_build_the_same_prompts_and_predictions(tiny_llama, monkeypatch):
    local, local_prompts = _in_process(tiny_llama, monkeypatch)
    served, served_prompts = _served(monkeypatch)
    assert served.error is None and served.answered == served.requests == len(set(local_prompts))
    assert set(served_prompts) == set(local_prompts)
    runs = request_runs(REQUEST, EXAMPLES)
    assert len(local_prompts) == len(runs) * 4  # every run over the 4 items that are not shots
    ours = local.predictions[COLUMNS].sort_values(["k", "shuffle", "item"]).reset_index(drop=True)
    theirs = served.evaluation.predictions[COLUMNS].sort_values(["k", "shuffle", "item"]).reset_index(drop=True)
    assert ours.equals(theirs)
    assert {(r.k, r.shuffle) for r in runs} == set(zip(ours["k"], ours["shuffle"]))
    assert list(local.strategies["accuracy"]) == list(served.evaluation.strategies["accuracy"])
    assert local.excluded == served.evaluation.excluded == 1


def test_both_backends_rank_the_same_labels():
    labels = prompt_eval.label_choices(EXAMPLES, [label for _, label in ITEMS])
    assert sorted(labels) == remote_eval.candidate_labels(REQUEST)


def test_the_format_picks_the_served_api():
    assert served_api("plain") == "completions" and served_api("chat") == "chat"
    with pytest.raises(ValueError, match="choose one of: plain, chat"):
        served_api("completions")
    chat = EvalRequest(*[getattr(REQUEST, f) for f in ("instruction", "examples", "items", "settings", "few_k")],
                       fmt="chat", mode="rank")
    with pytest.raises(ValueError, match="needs the completions API"):
        remote_eval.plan(chat)
    turns = remote_eval.plan(EvalRequest(**{**chat.__dict__, "mode": "generate"}))[2][0][2]
    assert turns[0] == ("system", REQUEST.instruction) and turns[-1] == ("user", "Text: so good")

"""Evaluation in both modes on tiny models: prefix split, rank scores, cache on == off, stop, which shot helped."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from core import prompting
from core.prompting import label_scoring, prefix_generation, prompt_eval
from core.sampling import GenerationSettings

INSTRUCTION = "Classify the sentiment."
EXAMPLES = (("Loved it", "positive"), ("Hated it", "negative"), ("Great fun", "positive"), ("Dull", "negative"))
ITEMS = (("so good", "positive"), ("bad film", "negative"), ("meh", "negative"), ("wow", "positive"))
SETTINGS = GenerationSettings(max_new_tokens=3, stop=("\n",))


def _request(**options) -> prompt_eval.EvalRequest:
    return prompt_eval.EvalRequest(INSTRUCTION, EXAMPLES, ITEMS, SETTINGS, few_k=3, ks=(0, 2), **options)


@pytest.mark.parametrize("fmt", ["plain", "chat"])
def test_prefix_and_suffix_rebuild_each_prompt_and_split_on_a_token_boundary(tiny_llama, fmt):
    tokenizer = tiny_llama.tokenizer
    queries = ["so good", "bad film", "", "N/A"]
    prefix, suffixes = prompt_eval.split_prompts(INSTRUCTION, EXAMPLES[:2], queries, fmt, tokenizer)
    for query, suffix in zip(queries, suffixes):
        full = prompting.build_prompt(INSTRUCTION, EXAMPLES[:2], query, fmt, tokenizer, allow_empty=True)
        assert prefix + suffix == full
        prefix_ids = tokenizer(prefix)["input_ids"]
        assert tokenizer(full)["input_ids"][: len(prefix_ids)] == prefix_ids  # token-exact prefix
    assert "negative" in prefix and "so good" not in prefix and prefix.endswith("Text:")  # shots shared, query not


def test_rank_mode_probabilities_follow_an_independent_forward(tiny_decoder):
    result = prompt_eval.evaluate(tiny_decoder, _request(shot_influence=False))
    few = result.predictions[(result.predictions["k"] == 3) & (result.predictions["shuffle"] == 0)]
    row = few.iloc[1]
    prompt = prompting.build_prompt(INSTRUCTION, EXAMPLES[:3], ITEMS[1][0])
    logprobs = []
    for label in ("positive", "negative"):  # independent: one plain forward per label, no cache, no batching
        context = tiny_decoder.tokenizer(prompt)["input_ids"]
        whole = tiny_decoder.tokenizer(prompt + " " + label)["input_ids"]
        ids = context + whole[len(context):]
        with torch.inference_mode():
            out = torch.log_softmax(tiny_decoder.model(input_ids=torch.tensor([ids])).logits[0].double(), -1)
        logprobs.append(sum(float(out[p - 1, ids[p]]) for p in range(len(context), len(ids))))
    expected = np.exp(logprobs) / np.exp(logprobs).sum()
    assert [row["p(positive)"], row["p(negative)"]] == pytest.approx(expected.tolist(), abs=1e-4)
    assert row["gold_logprob"] == pytest.approx(logprobs[1], abs=1e-4)
    assert row["predicted"] == ("positive", "negative")[int(np.argmax(expected))]
    assert set(result.predictions["k"]) == {0, 1, 2, 3} and len(result.predictions) == 4 * 4  # one order
    total = result.predictions[["p(positive)", "p(negative)"]].sum(axis=1)
    np.testing.assert_allclose(total, 1.0, atol=1e-9)
    assert {"ece", "calibrated_accuracy", "macro_f1"} <= set(result.strategies.columns)


def test_rank_mode_cache_on_equals_cache_off(tiny_decoder):
    on = prompt_eval.evaluate(tiny_decoder, _request(shuffles=2))
    off = prompt_eval.evaluate(tiny_decoder, _request(shuffles=2, prefix_cache=False))
    columns = ["p(positive)", "p(negative)", "gold_logprob"]
    np.testing.assert_allclose(on.predictions[columns], off.predictions[columns], atol=1e-4)
    np.testing.assert_allclose(on.shot_influence["delta_logprob"], off.shot_influence["delta_logprob"], atol=1e-4)
    assert on.predictions["cached"].all() and not off.predictions["cached"].any()
    assert on.tokens_run < off.tokens_run


def test_generate_mode_with_the_prefix_cache_matches_whole_prompts(tiny_decoder):
    shared = prompt_eval.evaluate(tiny_decoder, _request(mode="generate"))
    whole = prompt_eval.evaluate(tiny_decoder, _request(mode="generate", prefix_cache=False))
    key = ["k", "shuffle", "item"]
    a, b = shared.predictions.sort_values(key), whole.predictions.sort_values(key)
    assert a["answer"].tolist() == b["answer"].tolist()


def test_which_shot_helped_equals_scoring_without_that_shot(tiny_llama):
    result = prompt_eval.evaluate(tiny_llama, _request())
    influence = result.shot_influence
    assert influence["shot"].tolist() == [1, 2, 3]
    assert influence["text"].tolist() == ["Loved it", "Hated it", "Great fun"]
    few = result.predictions[(result.predictions["k"] == 3) & (result.predictions["shuffle"] == 0)]
    texts = [t for t, _ in ITEMS]
    prefix, suffixes = prompt_eval.split_prompts(INSTRUCTION, (EXAMPLES[0], EXAMPLES[2]), texts, "plain")
    scores = label_scoring.score_labels(tiny_llama, prefix, suffixes, ["positive", "negative"], use_cache=False)
    gold = np.array([0, 1, 1, 0])
    without = scores.logprob[np.arange(4), gold].mean()
    assert influence.loc[1, "delta_logprob"] == pytest.approx(few["gold_logprob"].mean() - without, abs=1e-4)
    accuracy_without = (scores.logprob.argmax(axis=1) == gold).mean()
    assert influence.loc[1, "delta_accuracy"] == pytest.approx(few["correct"].mean() - accuracy_without)


def test_stop_keeps_the_finished_runs_and_marks_the_result_partial(tiny_llama):
    calls = {"n": 0}

    def should_stop() -> bool:  # let the first two runs' batches through, then stop
        calls["n"] += 1
        return calls["n"] > 2

    result = prompt_eval.evaluate(tiny_llama, _request(shuffles=2), should_stop=should_stop)
    assert result.partial
    assert result.strategies["strategy"].tolist() == ["zero-shot", "one-shot"]  # strategies run first
    assert sorted(set(zip(result.predictions["k"], result.predictions["shuffle"]))) == [(0, 0), (1, 0)]
    assert result.shot_influence is None and len(result.predictions) == 2 * 4


def test_request_is_a_frozen_hashable_value():
    request = _request()
    assert hash(request) == hash(_request()) and request != _request(mode="generate")
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.mode = "generate"


def test_items_over_the_token_cap_are_refused_naming_the_row(tiny_llama):
    long = "word " * (prompting.MAX_PART_TOKENS + 1)
    request = dataclasses.replace(_request(), items=(("fine", "positive"), (long, "negative")))
    with pytest.raises(ValueError, match=f"Labelled item 2: .*the limit is {prompting.MAX_PART_TOKENS}"):
        prompt_eval.evaluate(tiny_llama, request)
    with pytest.raises(ValueError, match="Example 1 has"):
        prompting.check_token_caps(tiny_llama.tokenizer, [(long, "x")], "ok")


def test_labels_over_the_token_cap_are_refused_before_any_work(tiny_llama, monkeypatch):
    # A label is scored after every prompt: a 3,000-character one made one Compare take a minute.
    long = "word " * (prompting.MAX_LABEL_TOKENS + 1)
    limit = f"Example 2: the label 'word word .*…' has .*limited to {prompting.MAX_LABEL_TOKENS}"
    with pytest.raises(ValueError, match=limit):
        prompting.check_token_caps(tiny_llama.tokenizer, [("fine", "positive"), ("bad", long)], "ok")
    prompting.check_token_caps(tiny_llama.tokenizer, [("fine", "very positive")], "ok")
    monkeypatch.setattr(tiny_llama.model, "forward", lambda *a, **k: pytest.fail("the model ran"))
    request = dataclasses.replace(_request(), items=(("fine", "positive"), ("odd", long)))
    with pytest.raises(ValueError, match="The labelled set: the label"):
        prompt_eval.evaluate(tiny_llama, request)


def test_estimate_grows_with_the_work(tiny_llama):
    speed = prefix_generation.measure_throughput(tiny_llama)
    assert speed.tokens_per_second > 0 and speed.seconds_per_step > 0
    one = prompt_eval.estimate_seconds(tiny_llama, _request(shuffles=1), speed)
    two = prompt_eval.estimate_seconds(tiny_llama, _request(shuffles=3), speed)
    generating = prompt_eval.estimate_seconds(tiny_llama, _request(shuffles=1, mode="generate"), speed)
    assert 0 < one < two and generating > prompt_eval.estimate_seconds(
        tiny_llama, _request(shuffles=1, shot_influence=False), speed)


def test_unknown_mode_is_refused(tiny_llama):
    with pytest.raises(ValueError, match="Unknown mode"):
        prompt_eval.evaluate(tiny_llama, _request(mode="vote"))


def _independent_probabilities(model, prompt: str, labels) -> np.ndarray:
    """Softmax over labels of log P(" " + label | prompt), each from its own plain forward (no cache, no batch)."""
    scores = []
    for label in labels:
        context = model.tokenizer(prompt)["input_ids"]
        whole = model.tokenizer(prompt + " " + label)["input_ids"]
        ids = context + whole[len(context):]
        with torch.inference_mode():
            out = torch.log_softmax(model.model(input_ids=torch.tensor([ids])).logits[0].double(), -1)
        scores.append(sum(float(out[p - 1, ids[p]]) for p in range(len(context), len(ids))))
    weights = np.exp(np.array(scores) - max(scores))
    return weights / weights.sum()


@pytest.mark.slow
def test_real_model_ranking_beats_generating_at_zero_shot_and_reproduces_a_probability(smollm2):
    task = prompting.PRESETS["Movie-review sentiment"]
    items = prompting.load_eval_set(task).iloc[:16]  # half the set keeps generate mode to seconds
    pairs = tuple(items[["text", "label"]].itertuples(index=False, name=None))
    base = prompt_eval.EvalRequest(task.instruction, task.examples, pairs, GenerationSettings(5, stop=("\n",)),
                                   task.few_k, shot_influence=False)
    ranked = prompt_eval.evaluate(smollm2, base)
    generated = prompt_eval.evaluate(smollm2, dataclasses.replace(base, mode="generate"))
    zero = {name: r.strategies.set_index("k").loc[0, "accuracy"] for name, r in (("rank", ranked), ("gen", generated))}
    assert zero["rank"] > zero["gen"], (ranked.strategies, generated.strategies)
    few = ranked.predictions[(ranked.predictions["k"] == task.few_k) & (ranked.predictions["shuffle"] == 0)]
    row = few.iloc[0]
    prompt = prompting.build_prompt(task.instruction, task.examples[: task.few_k], items["text"].iloc[0])
    expected = _independent_probabilities(smollm2, prompt, ranked.labels)
    assert [row[f"p({label})"] for label in ranked.labels] == pytest.approx(expected.tolist(), abs=1e-3)
    assert few["cached"].all()  # the real tokenizer splits every prompt cleanly after the shared prefix

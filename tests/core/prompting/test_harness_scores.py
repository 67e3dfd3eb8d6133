"""Rank mode reports lm-evaluation-harness's scores, checked against independent plain forwards on a tiny model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.prompting import label_scoring, prompt_eval
from core.sampling import GenerationSettings

EXAMPLES = (("Loved it", "positive"), ("Hated it", "negative"), ("Great fun", "positive"))
ITEMS = (("so good", "positive"), ("bad film", "negative"), ("meh", "negative"), ("wow", "positive"))


def _plain_logprob(model, context_ids: list[int], continuation_ids: list[int]) -> float:
    ids = context_ids + continuation_ids
    with torch.inference_mode():
        out = torch.log_softmax(model.model(input_ids=torch.tensor([ids])).logits[0].double(), -1)
    return sum(float(out[p - 1, ids[p]]) for p in range(len(context_ids), len(ids)))


def test_null_prompt_is_the_start_token_alone_as_the_harness_feeds_an_empty_context(tiny_decoder):
    tokenizer = tiny_decoder.tokenizer
    token = tokenizer.bos_token or tokenizer.eos_token
    start = tokenizer.convert_tokens_to_ids(token)
    got = label_scoring.null_logprobs(tiny_decoder, ["positive", "negative"])
    for label, value in zip(["positive", "negative"], got):
        continuation = tokenizer(" " + label, add_special_tokens=False)["input_ids"]
        assert value == pytest.approx(_plain_logprob(tiny_decoder, [start], continuation), abs=1e-4)


def test_each_harness_accuracy_follows_its_rule_from_the_per_label_log_probs(tiny_llama):
    request = prompt_eval.EvalRequest("Sentiment?", EXAMPLES, ITEMS, GenerationSettings(max_new_tokens=2), few_k=2,
                                      ks=(0, 1, 2), shot_influence=False)
    result = prompt_eval.evaluate(tiny_llama, request)
    labels = ("positive", "negative")
    null = label_scoring.null_logprobs(tiny_llama, labels)
    table = result.predictions[result.predictions["shuffle"] == 0]
    logp = table[[f"logp({label})" for label in labels]].to_numpy()
    gold = np.array([labels.index(g) for g in table["gold"]])
    chars = np.array([len(label) for label in labels])
    expected = {"acc": logp.argmax(1), "acc_norm": (logp / chars).argmax(1), "acc_bytes": (logp / chars).argmax(1),
                "acc_mutual_info": (logp - null).argmax(1)}
    for rule, chosen in expected.items():
        np.testing.assert_array_equal(table[f"{rule}_correct"].to_numpy(bool), chosen == gold)
    np.testing.assert_array_equal(table["acc_correct"].to_numpy(bool), table["correct"].to_numpy(bool))  # sum rule
    for row in result.strategies.to_dict("records"):
        rows = table[table["k"] == row["k"]]
        assert row["acc_mutual_info"] == pytest.approx(rows["acc_mutual_info_correct"].mean())
        assert row["acc"] == pytest.approx(row["accuracy"])

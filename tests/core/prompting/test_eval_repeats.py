"""Repeats of a sampled generate-and-match evaluation on the tiny model: seeds, agreement, spread, unstable items."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest

from core.prompting import eval_repeats, prompt_eval
from core.sampling import GenerationSettings

EXAMPLES = (("Loved it", "positive"), ("Hated it", "negative"), ("Great fun", "positive"))
ITEMS = (("so good", "positive"), ("bad film", "negative"), ("meh", "negative"), ("wow", "positive"))
SAMPLED = GenerationSettings(max_new_tokens=2, do_sample=True, temperature=1.5, seed=7)


def _request(settings: GenerationSettings = SAMPLED, mode: str = "generate") -> prompt_eval.EvalRequest:
    return prompt_eval.EvalRequest("Sentiment?", EXAMPLES, ITEMS, settings, few_k=2, mode=mode, shot_influence=False)


def test_repeats_use_consecutive_seeds_and_summarise_agreement_and_spread(tiny_llama):
    seen: list[int] = []

    def engine(request):
        seen.append(request.settings.seed)
        return prompt_eval.evaluate(tiny_llama, request)

    repeats = eval_repeats.run_repeats(engine, _request(), 4)
    assert seen == [7, 8, 9, 10] and repeats.seeds == (7, 8, 9, 10)
    for strategy, row in repeats.spread.set_index("strategy").iterrows():
        accuracies = [e.strategies.set_index("strategy").loc[strategy, "accuracy"] for e in repeats.evaluations]
        assert row["mean"] == pytest.approx(np.mean(accuracies)) and row["min"] == min(accuracies)
    agreement = repeats.agreement
    assert len(agreement) == 3 * len(ITEMS)
    assert ((agreement["agreement"] >= 0.25) & (agreement["agreement"] <= 1.0)).all()
    for row in agreement.to_dict("records"):  # agreement is the modal answer's share of the four repeats
        answers = [e.items[row["strategy"]][row["item"]] for e in repeats.evaluations]
        assert row["agreement"] == answers.count(row["modal answer"]) / 4
    unstable = repeats.unstable()
    assert (unstable["agreement"] < 1).all() and len(unstable) == int((agreement["agreement"] < 1).sum())
    assert len(unstable) > 0  # a tiny random model sampling at temperature 1.5 does change its answers
    again = eval_repeats.run_repeats(functools.partial(prompt_eval.evaluate, tiny_llama), _request(), 4)
    assert again.agreement.equals(agreement)  # seeded: the same repeats give the same answers


def test_repeats_are_refused_where_they_change_nothing():
    with pytest.raises(ValueError, match="sampling on"):
        eval_repeats.check_repeats(_request(dataclasses.replace(SAMPLED, do_sample=False)), 3)
    with pytest.raises(ValueError, match="sampling on"):
        eval_repeats.check_repeats(_request(mode="rank"), 3)
    with pytest.raises(ValueError, match="between 1 and 20"):
        eval_repeats.check_repeats(_request(), 0)

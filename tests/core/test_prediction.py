"""Next-token candidates, one token's odds, filtered distributions, step predictions and recorded streams."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import core
from core import prediction
from core.analysis import softmax
from core.generation import GenerationStep
from core.sampling import GenerationSettings
from core.tokens import token_label

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def logits(tiny_llama) -> np.ndarray:
    return core.analyze(tiny_llama, PROMPT).next_token_logits


def test_top_candidates_are_the_highest_probabilities_in_order(tiny_llama, logits):
    table = prediction.top_candidates(tiny_llama, logits, k=7)
    probs = softmax(logits)
    assert table["rank"].tolist() == list(range(1, 8))
    assert table["token_id"].tolist() == np.argsort(-probs)[:7].tolist()
    np.testing.assert_allclose(table["probability"], probs[table["token_id"]])
    np.testing.assert_allclose(table["logprob"], np.log(probs[table["token_id"]]))
    assert table["probability"].is_monotonic_decreasing
    assert table["token"][0] == token_label(tiny_llama.tokenizer, table["token_id"][0])
    with pytest.raises(ValueError, match="between 1 and"):
        prediction.top_candidates(tiny_llama, logits, k=0)


def test_token_odds_scores_the_first_token_of_the_word(tiny_llama, logits):
    probs = softmax(logits)
    best = int(np.argmax(probs))
    word = tiny_llama.tokenizer.decode([best])
    odds = prediction.token_odds(tiny_llama, logits, word)
    assert odds.token_id == best and odds.rank == 1 and odds.n_tokens == 1
    assert odds.probability == pytest.approx(probs[best])
    assert odds.logprob == pytest.approx(np.log(probs[best]))
    long_word = " Straße中文👍🏽"
    ids = tiny_llama.tokenizer(long_word, add_special_tokens=False)["input_ids"]
    several = prediction.token_odds(tiny_llama, logits, long_word)
    assert several.n_tokens == len(ids) > 1
    assert several.token_id == ids[0]
    assert several.rank == int((probs > probs[ids[0]]).sum()) + 1


def test_token_odds_rejects_empty_and_huge_words(tiny_llama, logits):
    with pytest.raises(ValueError, match="Type a token"):
        prediction.token_odds(tiny_llama, logits, "")
    with pytest.raises(ValueError, match="the limit is 200"):
        prediction.token_odds(tiny_llama, logits, "x" * 100_000)


def test_greedy_settings_leave_only_the_top_token(logits):
    dist = prediction.filter_distribution(logits, GenerationSettings())
    assert dist.n_kept == 1 and dist.kept[np.argmax(logits)]
    assert dist.after[np.argmax(logits)] == 1.0
    assert dist.entropy_after == 0.0
    probs = softmax(logits)
    assert dist.entropy_before == pytest.approx(-(probs * np.log2(probs)).sum())


def test_top_k_sampling_renormalises_the_kept_tokens(logits):
    dist = prediction.filter_distribution(logits, GenerationSettings(do_sample=True, top_k=5))
    top5 = np.argsort(-dist.before)[:5]
    assert dist.n_kept == 5 and set(np.flatnonzero(dist.kept)) == set(top5)
    np.testing.assert_allclose(dist.after[top5], dist.before[top5] / dist.before[top5].sum(), rtol=1e-5)
    assert dist.after.sum() == pytest.approx(1.0)
    assert dist.entropy_after < dist.entropy_before


@pytest.mark.parametrize(
    ("settings", "kept"),
    [
        (GenerationSettings(do_sample=True, temperature=0.0), 1),  # temperature 0 is greedy
        (GenerationSettings(do_sample=True, top_p=0.0), 1),  # top-p 0 keeps the best token
        (GenerationSettings(do_sample=True, top_k=10**6), None),  # top-k past the vocabulary keeps all
    ],
)
def test_bad_settings_are_clamped_not_fatal(logits, settings, kept):
    dist = prediction.filter_distribution(logits, settings)
    assert dist.n_kept == (kept or len(logits))
    assert dist.after.sum() == pytest.approx(1.0)


def test_distribution_table_lines_up_before_after_and_kept(tiny_llama, logits):
    dist = prediction.filter_distribution(logits, GenerationSettings(do_sample=True, top_k=3))
    table = prediction.distribution_table(tiny_llama, dist, k=6)
    assert table["kept"].tolist() == [True] * 3 + [False] * 3
    assert (table.loc[~table["kept"], "after"] == 0).all()
    assert table["before"].is_monotonic_decreasing


def test_step_prediction_equals_a_forward_pass_over_prompt_and_chosen_ids(tiny_decoder):
    first = prediction.predict_step(tiny_decoder, PROMPT)
    np.testing.assert_allclose(first.logits, core.analyze(tiny_decoder, PROMPT).next_token_logits, atol=1e-5)
    chosen = (int(np.argmax(first.logits)), 5)
    later = prediction.predict_step(tiny_decoder, PROMPT, chosen)
    ids = torch.tensor([[*tiny_decoder.tokenizer(PROMPT)["input_ids"], *chosen]])
    with torch.inference_mode():
        expected = tiny_decoder.model(ids).logits[0, -1].numpy()
    np.testing.assert_allclose(later.logits, expected, atol=1e-5)
    assert later.text == PROMPT + tiny_decoder.tokenizer.decode(list(chosen))


def test_greedy_steps_reproduce_greedy_generation(tiny_decoder):
    settings = GenerationSettings(max_new_tokens=5)
    ids: tuple[int, ...] = ()
    for step in range(5):
        logits = prediction.predict_step(tiny_decoder, PROMPT, ids).logits
        ids += (prediction.pick_token(logits, settings, step),)
    [done] = core.generate(tiny_decoder, [PROMPT], settings)
    assert list(ids) == done.token_ids.tolist()


def test_sampled_steps_are_seeded_by_step(logits):
    settings = GenerationSettings(do_sample=True, temperature=2.0, seed=3)
    picks = [prediction.pick_token(logits, settings, step) for step in range(30)]
    assert picks == [prediction.pick_token(logits, settings, step) for step in range(30)]
    assert len(set(picks)) > 1  # a different seed at each step: not one token forever


def test_step_prediction_rejects_encoders_and_empty_prompts(tiny_bert, tiny_llama):
    with pytest.raises(ValueError, match="encoder"):
        prediction.predict_step(tiny_bert, PROMPT)
    with pytest.raises(ValueError, match="empty"):
        prediction.predict_step(tiny_llama, "")
    with pytest.raises(ValueError, match="context window"):
        prediction.predict_step(tiny_llama, PROMPT, (5,) * tiny_llama.info.context_window)


def test_repeated_fraction_counts_repeated_pairs():
    assert prediction.repeated_fraction(np.array([1, 2, 1, 2, 1, 2])) == pytest.approx(0.6)
    assert prediction.repeated_fraction(np.array([1, 2, 3, 4])) == 0.0
    assert prediction.repeated_fraction(np.array([7])) == 0.0


def _steps(n: int):
    for i in range(1, n + 1):
        yield GenerationStep(texts=("x" * i,), finished=(i == n,))


def test_recorded_stream_replays_instead_of_recomputing():
    pulled = []
    source = _steps(4)

    def counting():
        for step in source:
            pulled.append(step)
            yield step

    stream = prediction.RecordedStream(counting())
    reader = iter(stream)
    assert next(reader).texts == ("x",)
    del reader  # a reader that stops early (a rerun) leaves the rest for the next one
    assert [s.texts[0] for s in stream] == ["x", "xx", "xxx", "xxxx"]
    assert [s.texts[0] for s in stream] == ["xxxx"]  # finished: replays only the final step
    assert len(pulled) == 4 and stream.done


def test_recorded_stream_repeats_a_bad_input_error_to_every_reader():
    def failing():
        raise ValueError("Text is empty")
        yield  # pragma: no cover

    stream = prediction.RecordedStream(failing())
    for _ in range(2):
        with pytest.raises(ValueError, match="empty"):
            list(stream)


def test_recorded_stream_broken_midway_is_failed_for_every_reader_not_truncated():
    def breaking():
        yield from _steps(2)
        raise RuntimeError("worker died")

    stream = prediction.RecordedStream(breaking())
    seen = []
    with pytest.raises(RuntimeError, match="worker died"):
        for step in stream:
            seen.append(step.texts[0])
    assert seen == ["x", "xx"]
    assert stream.failed and stream.done
    # A second reader must not get the two steps as if they were the whole run.
    with pytest.raises(RuntimeError, match="worker died"):
        list(stream)


def test_recorded_stream_that_finishes_is_not_failed():
    stream = prediction.RecordedStream(_steps(3))
    assert len(list(stream)) == 3 and stream.done and not stream.failed


def test_recorded_stream_of_a_real_run_resumes_and_then_holds_only_its_last_step(tiny_llama):
    from core import result_budget

    prompts, settings = ["The river"] * 3, GenerationSettings(max_new_tokens=6, do_sample=True, seed=5)
    stream = prediction.RecordedStream(core.stream_generate(tiny_llama, prompts, settings))
    reader = iter(stream)
    next(reader), next(reader)
    paused = stream.held_bytes()
    del reader  # the page's rerun stops reading: the run pauses with its KV cache
    steps = list(stream)  # the next reader resumes where the first stopped
    assert [c.token_ids.tolist() for c in steps[-1].completions] == [
        c.token_ids.tolist() for c in core.generate(tiny_llama, prompts, settings)
    ]
    assert stream.done and stream.held_bytes() == result_budget.nbytes(steps[-1]) < paused

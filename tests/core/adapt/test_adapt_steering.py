"""Steering by activation addition, and the comparison and forgetting probe of an adapted model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import core
from core.adapt import compare, data, lora, steering
from core.runtime import calls, hooks

POSITIVE, NEGATIVE = steering.PRESETS["Sentiment (positive − negative)"]
ROWS = [(f"great film number {i}", "positive") for i in range(6)] + \
       [(f"boring film number {i}", "negative") for i in range(6)]


def _last_logits(model, text: str) -> torch.Tensor:
    with core.runtime.gate.inference(model):
        return torch.from_numpy(calls.logits(model, [model.tokenizer(text)["input_ids"]]))


def test_vector_is_the_mean_difference_without_the_first_position(tiny_decoder):
    vector = steering.steering_vector(tiny_decoder, 1, POSITIVE[:2], NEGATIVE[:2])
    means = []
    for side in (POSITIVE[:2], NEGATIVE[:2]):
        rows = [torch.from_numpy(hooks.residual_stream(tiny_decoder, tiny_decoder.tokenizer(
                    p, add_special_tokens=False)["input_ids"]))[1, 1:].mean(0) for p in side]
        means.append(torch.stack(rows).mean(0))
    assert np.allclose(vector.vector, (means[0] - means[1]).numpy(), atol=1e-6)
    assert vector.norm == pytest.approx(float(np.linalg.norm(vector.vector)))
    assert vector.residual_norm > 0


def test_alpha_zero_equals_the_plain_model(tiny_decoder):
    vector = steering.steering_vector(tiny_decoder, 0, POSITIVE, NEGATIVE)
    text = "The capital of France is"
    plain = _last_logits(tiny_decoder, text)
    with steering.steered(tiny_decoder, vector, 0.0):
        assert torch.equal(_last_logits(tiny_decoder, text), plain)
    with steering.steered(tiny_decoder, vector, 8.0):
        assert not torch.allclose(_last_logits(tiny_decoder, text), plain)
    settings = core.GenerationSettings(max_new_tokens=6, do_sample=True, seed=3)
    assert steering.steered_generate(tiny_decoder, [text], settings, vector, 0.0)[0].text == \
        core.generate(tiny_decoder, [text], settings)[0].text
    assert hooks.hooks_left(tiny_decoder) == 0
    assert torch.equal(_last_logits(tiny_decoder, text), plain)  # nothing left behind


def test_sweep_reports_each_alpha(tiny_llama):
    vector = steering.steering_vector(tiny_llama, 1, POSITIVE, NEGATIVE)
    sweep = steering.alpha_sweep(tiny_llama, vector, [-4.0, 0.0, 4.0], new_tokens=3)
    assert list(sweep["alpha"]) == [-4.0, 0.0, 4.0]
    assert sweep["p_positive"].between(0, 1).all() and sweep["text_positive"].between(0, 1).all()
    assert (sweep["fluency"].dropna() <= 0).all()  # a mean log-probability
    assert hooks.hooks_left(tiny_llama) == 0


@pytest.mark.parametrize("call, message", [
    (lambda m: steering.steering_vector(m, 99, ["a b"], ["c d"]), "Layer must be between"),
    (lambda m: steering.steering_vector(m, 0, [], ["c d"]), "Each side needs"),
    (lambda m: steering.steered(m, steering.SteeringVector(0, np.zeros(32, np.float32), 0, 1), 1e3).__enter__(),
     "Strength"),
])
def test_bad_steering_input_says_why(tiny_llama, call, message):
    with pytest.raises(ValueError, match=message):
        call(tiny_llama)


def test_encoder_cannot_be_steered(tiny_bert):
    with pytest.raises(ValueError, match="encoder"):
        steering.steering_vector(tiny_bert, 0, POSITIVE, NEGATIVE)


def test_untrained_adapter_changes_nothing(tiny_llama):
    peft_model = lora.attach_lora(tiny_llama, lora.LoraSettings())  # LoRA's B starts at zero
    adapted = lora.adapted(tiny_llama, peft_model)
    probe = compare.forgetting(tiny_llama, adapted, compare.PROBES[:3])
    assert (probe["kl"] == 0).all() and probe["agree"].all()
    assert (compare.delta_norms(peft_model)["norm"] == 0).all()


def test_ways_score_the_heldout_set(tiny_llama):
    split = data.split_rows(ROWS, 0.34)
    run = lora.LoraRun(tiny_llama, split, "Classify.", lora.LoraSettings(epochs=2, batch_size=4, learning_rate=5e-2))
    run.run()
    adapted = lora.adapted(tiny_llama, run.peft_model)
    vector = steering.steering_vector(tiny_llama, 1, POSITIVE, NEGATIVE)
    ways = [compare.Way("zero-shot", tiny_llama, 0), compare.Way("few-shot", tiny_llama, 2),
            compare.Way("steered zero-shot", tiny_llama, 0, lambda: steering.steered(tiny_llama, vector, 2.0)),
            compare.Way("fine-tuned zero-shot", adapted, 0)]
    table = compare.score_ways(ways, "Classify.", split, 2)
    assert list(table["way"]) == [w.name for w in ways]
    assert (table["scored"] == len(split.heldout)).all()
    assert table["accuracy"].between(0, 1).all() and table["mean_gold_probability"].between(0, 1).all()
    assert table["prompt_tokens"][1] > table["prompt_tokens"][0]  # shots cost prompt tokens
    norms = compare.delta_norms(run.peft_model)
    assert sorted(set(norms["layer"])) == [0, 1] and (norms["norm"] > 0).all()
    assert set(norms["matrix"]) == {"self_attn.q_proj", "self_attn.v_proj"}
    assert hooks.hooks_left(tiny_llama) == 0


def test_balanced_shots_alternate_labels_from_training_rows():
    split = data.split_rows(ROWS, 0.34)
    shots = compare.balanced_shots(split, 4)
    assert [label for _, label in shots] == ["positive", "negative", "positive", "negative"]
    assert set(shots) <= set(split.train)


def test_label_lens_ends_at_the_models_own_probability(tiny_llama):
    from core.prompting.label_scoring import encode_pair

    prompt = "Text: great film\nLabel:"
    lens = compare.lens_before_after(tiny_llama, tiny_llama, prompt, "positive")
    assert len(lens) == tiny_llama.info.layers + 1 and lens["layer"].iloc[-1] == "output"
    assert (lens["before"] == lens["after"]).all()
    token = encode_pair(tiny_llama.tokenizer, prompt, " positive")[1][0]
    expected = float(torch.softmax(_last_logits(tiny_llama, prompt)[0, -1], -1)[token])
    assert lens["before"].iloc[-1] == pytest.approx(expected, rel=1e-5)
    assert lens["before"].between(0, 1).all()


def test_attention_change_is_zero_for_an_untrained_adapter_and_rows_sum_to_one(tiny_llama):
    adapted = lora.adapted(tiny_llama, lora.attach_lora(tiny_llama, lora.LoraSettings()))
    change = compare.attention_change(tiny_llama, adapted, "Text: great film\nLabel:")
    assert change.before.shape == change.after.shape == (tiny_llama.info.layers, tiny_llama.info.heads,
                                                         len(change.labels), len(change.labels))
    assert np.array_equal(change.before, change.after)
    assert np.allclose(change.after.sum(-1), 1, atol=1e-5)

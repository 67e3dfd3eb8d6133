"""Adapting the real SmolLM2: LoRA on the sentiment preset beats the base model; steering moves P(positive)."""

from __future__ import annotations

import hashlib

import pytest

from core import prompting
from core.adapt import compare, data, lora, steering
from core.lessons import lesson_by_title
from core.runtime import hooks

pytestmark = pytest.mark.slow


def _sentiment_split() -> tuple[str, data.Split]:
    task = prompting.PRESETS["Movie-review sentiment"]
    rows = [*task.examples, *prompting.load_eval_set(task)[["text", "label"]].itertuples(index=False, name=None)]
    return task.instruction, data.split_rows(rows, 0.4, 0)


def _fingerprint(model) -> str:
    digest = hashlib.sha256()
    for name, parameter in model.model.named_parameters():
        digest.update(name.encode())
        digest.update(parameter.detach().numpy().tobytes())
    return digest.hexdigest()


def test_default_fine_tune_beats_the_base_model_zero_shot(smollm2):
    assert lesson_by_title("Fine-tuning: LoRA on movie reviews").task == "Movie-review sentiment"
    instruction, split = _sentiment_split()
    before = _fingerprint(smollm2)
    run = lora.LoraRun(smollm2, split, instruction, lora.LoraSettings())  # the page's defaults
    assert lora.trainable_parameters(run.peft_model) == 460_800  # the Lifecycle page's figure for r=8, q/v
    progress = run.run()
    assert progress.heldout_loss[-1][1] < progress.heldout_loss[0][1]
    adapted = lora.adapted(smollm2, run.peft_model)
    table = compare.score_ways([compare.Way("base", smollm2, 0), compare.Way("fine-tuned", adapted, 0)],
                               instruction, split, 4).set_index("way")
    assert table.loc["fine-tuned", "accuracy"] > table.loc["base", "accuracy"], table
    # The lesson "Fine-tuning: LoRA on movie reviews" says 13 → 14 of 14 and P(gold) 0.76 → 0.97.
    assert round(table.loc["base", "accuracy"] * 14) == 13 and table.loc["fine-tuned", "accuracy"] == 1.0, table
    assert table.loc["base", "mean_gold_probability"] == pytest.approx(0.76, abs=0.02)
    assert table.loc["fine-tuned", "mean_gold_probability"] == pytest.approx(0.97, abs=0.02)
    assert table.loc["fine-tuned", "mean_gold_probability"] > table.loc["base", "mean_gold_probability"]
    # Measured: base 13 of 14 held-out reviews (mean P(gold) 0.76), fine-tuned 14 of 14 (0.97). The
    # narrow training reaches general prompts too (mean KL 0.41 nats, 4 of 8 top-1 tokens kept).
    probe = compare.forgetting(smollm2, adapted)
    assert 0 < probe["kl"].mean() < 2.0
    assert _fingerprint(smollm2) == before
    assert hooks.hooks_left(smollm2) == 0


def test_learning_rate_10_diverges_and_is_discarded(smollm2):
    instruction, split = _sentiment_split()
    run = lora.LoraRun(smollm2, split, instruction, lora.LoraSettings(learning_rate=10.0))
    with pytest.raises(lora.TrainingDiverged, match="learning rate 10 is too high"):
        run.run()
    assert run.peft_model is None


def test_sentiment_vector_moves_p_positive_with_alpha(smollm2):
    assert lesson_by_title("Steering: a sentiment direction").prompt == steering.NEUTRAL_PROMPTS[0]
    positive, negative = steering.PRESETS["Sentiment (positive − negative)"]
    vector = steering.steering_vector(smollm2, smollm2.info.layers // 3, positive, negative)
    assert 0 < vector.norm < vector.residual_norm
    # Measured at layer 10 (‖v‖ 19.4 against a residual norm of 135): P(positive) read by the steered
    # model 0.14 / 0.26 / 0.20 / 0.75 / 0.99 / 0.97 / 1.00 at α = -8 / -4 / -2 / 0 / 2 / 4 / 8 (it
    # saturates at both ends); the plain model's mean log-prob per token of the steered text falls
    # from -1.39 at α = 0 to -5.7 at α = -8: strong steering breaks the language.
    sweep = steering.alpha_sweep(smollm2, vector, [-8.0, 0.0, 8.0])
    p = list(sweep["p_positive"])
    assert p[0] < p[1] < p[2], sweep
    # The lesson "Steering: a sentiment direction" says 0.14 / 0.75 / 1.00 and that fluency breaks.
    assert p[0] < 0.2 and p[1] == pytest.approx(0.75, abs=0.03) and p[2] > 0.98, sweep
    fluency = list(sweep["fluency"])
    assert fluency[0] < fluency[1] - 2 and fluency[2] < fluency[1] - 2, sweep
    assert hooks.hooks_left(smollm2) == 0

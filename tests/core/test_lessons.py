"""Lesson presets: the data file is well formed, and each lesson's claim holds on the real SmolLM2 (slow)."""

from __future__ import annotations

import numpy as np
import pytest

import core
from core import prompting
from core.lessons import lesson_by_title, lessons_for, load_lessons

PAGES_WITH_PROMPTS = {"attention", "embeddings", "generation", "tokens", "prompting", "adapt"}


def _lesson(lesson_id: str):
    return next(lesson for lesson in load_lessons() if lesson.id == lesson_id)


def test_every_lesson_has_a_page_a_note_and_one_source():
    lessons = load_lessons()
    assert len({lesson.id for lesson in lessons}) == len(lessons) >= 7
    for lesson in lessons:
        assert set(lesson.pages) <= PAGES_WITH_PROMPTS and lesson.pages
        assert lesson.note.endswith(".") and len(lesson.note) < 300  # one sentence an instructor can read out
        assert (lesson.prompt is None) != (lesson.task is None)
        assert lesson.task is None or lesson.task in prompting.PRESETS
        assert lesson_by_title(lesson.title) == lesson
    assert {lesson.id for lesson in lessons_for("attention")} == {"coreference", "induction", "capital"}


def test_a_lesson_with_both_prompt_and_task_is_refused(tmp_path):
    bad = tmp_path / "lessons.json"
    bad.write_text('[{"id": "x", "title": "X", "pages": ["tokens"], "note": "n.", "prompt": "p", "task": "t"}]')
    with pytest.raises(ValueError, match="exactly one"):
        load_lessons(bad)


def _positions(tokens: core.Tokenization, text: str) -> list[int]:
    return [i for i, piece in enumerate(tokens.texts) if piece == text]


@pytest.mark.slow
def test_coreference_head_reads_animal_not_street(smollm2):
    analysis = core.analyze(smollm2, _lesson("coreference").prompt)
    [it], [animal], [street] = (_positions(analysis.tokens, w) for w in (" it", " animal", " street"))
    weights = analysis.attention[13, 8, it]  # the head the note names
    assert weights[animal] > 0.5 and weights[animal] > 10 * weights[street]
    other = analysis.attention[:, :, it]  # and it is not alone: several heads prefer the animal
    assert int((other[..., animal] > other[..., street] + 0.1).sum()) >= 5


@pytest.mark.slow
def test_induction_head_attends_to_the_token_after_the_earlier_copy(smollm2):
    analysis = core.analyze(smollm2, _lesson("induction").prompt)
    ids = np.asarray(analysis.tokens.ids)
    period = next(p for p in range(2, len(ids)) if (ids[p + 1:] == ids[1:len(ids) - p]).all())
    queries = np.arange(period + 1, len(ids))  # second copy (its first token differs: no leading space)
    scores = analysis.attention[:, :, queries, queries - period + 1].mean(-1)  # (layer, head)
    assert scores[17, 5] > 0.4 and scores.max() == scores[17, 5]
    assert np.median(scores) < 0.1  # a specific head, not every head


@pytest.mark.slow
def test_bank_vectors_drift_apart_with_context(smollm2):
    analysis = core.analyze(smollm2, _lesson("bank").prompt)
    river, money = _positions(analysis.tokens, " bank")
    states = analysis.hidden_states  # (layer+1, pos, d_model)
    unit = states / np.linalg.norm(states, axis=-1, keepdims=True)
    cosine = (unit[:, river] * unit[:, money]).sum(-1)  # (layer+1,)
    assert cosine[0] == pytest.approx(1.0, abs=1e-5)
    assert cosine[-1] < 0.85 and cosine[-1] < cosine[len(cosine) // 2] < cosine[0]


@pytest.mark.slow
def test_capital_of_france_predicts_paris(smollm2):
    analysis = core.analyze(smollm2, _lesson("capital").prompt)
    assert smollm2.tokenizer.decode([int(analysis.next_token_logits.argmax())]) == " Paris"


@pytest.mark.slow
def test_non_english_lines_cost_more_tokens_per_character(smollm2):
    lines = _lesson("languages").prompt.split("\n")
    cost = [len(smollm2.tokenizer(line, add_special_tokens=False)["input_ids"]) / len(line) for line in lines]
    english, others = cost[0], cost[1:]
    assert english < 0.3 and all(c > english for c in others)
    assert sum(c > 3 * english for c in others) >= 3  # Russian, Hindi, Japanese: several times more


@pytest.mark.slow
@pytest.mark.parametrize(("lesson_id", "wanted", "zero_shot"), [("sentiment", "negative", "positive"),
                                                                 ("topic", "sports", None)])
def test_few_shot_gets_the_label_zero_shot_misses(smollm2, lesson_id, wanted, zero_shot):
    task = prompting.PRESETS[_lesson(lesson_id).task]
    prompts = prompting.strategy_prompts(task.instruction, task.examples, task.query, task.few_k, "plain")
    settings = core.GenerationSettings(max_new_tokens=5, stop=("\n",))
    zero, _, few = core.generate(smollm2, list(prompts), settings)
    labels = sorted({label for _, label in task.examples})
    assert prompting.match_label(prompting.extract_answer(few.text), labels) == wanted
    assert prompting.match_label(prompting.extract_answer(zero.text), labels) == zero_shot  # None: its own words

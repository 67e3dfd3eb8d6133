"""Prompt building, answer extraction, scoring, CSV validation and experiment JSON for prompt strategies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core import prompting
from core.prompting import prompt_eval
from core.sampling import GenerationSettings

INSTRUCTION = "Classify the sentiment."
EXAMPLES = [("Loved it", "positive"), ("Hated it", "negative"), ("Great fun", "positive"), ("Dull", "negative")]


def test_plain_prompt_zero_shot():
    assert prompting.build_prompt(INSTRUCTION, [], "So boring") == "Classify the sentiment.\n\nText: So boring\nLabel:"


def test_plain_prompt_one_shot():
    expected = "Classify the sentiment.\n\nText: Loved it\nLabel: positive\n\nText: So boring\nLabel:"
    assert prompting.build_prompt(INSTRUCTION, EXAMPLES[:1], "So boring") == expected


def test_plain_prompt_three_shots():
    expected = (
        "Classify the sentiment.\n\n"
        "Text: Loved it\nLabel: positive\n\n"
        "Text: Hated it\nLabel: negative\n\n"
        "Text: Great fun\nLabel: positive\n\n"
        "Text: So boring\nLabel:"
    )
    assert prompting.build_prompt(INSTRUCTION, EXAMPLES[:3], "So boring") == expected


def test_plain_prompt_without_instruction_starts_with_the_first_shot():
    assert prompting.build_prompt("  ", EXAMPLES[:1], "q") == "Text: Loved it\nLabel: positive\n\nText: q\nLabel:"


def test_chat_prompt_uses_the_template_turns(tiny_llama):
    prompt = prompting.build_prompt(INSTRUCTION, EXAMPLES[:1], "So boring", "chat", tiny_llama.tokenizer)
    assert prompt == (
        "<|im_start|>system\nClassify the sentiment.<|im_end|>\n"
        "<|im_start|>user\nText: Loved it<|im_end|>\n"
        "<|im_start|>assistant\npositive<|im_end|>\n"
        "<|im_start|>user\nText: So boring<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_chat_prompt_needs_a_template(tiny_llama):
    with pytest.raises(ValueError, match="no chat template"):
        prompting.build_prompt(INSTRUCTION, [], "q", "chat", tokenizer=None)


def test_strategy_prompts_grow_by_shots():
    zero, one, few = prompting.strategy_prompts(INSTRUCTION, EXAMPLES, "So boring", 3)
    assert zero.count("Text:") == 1 and one.count("Text:") == 2 and few.count("Text:") == 4
    assert few.startswith(one[: one.index("Text: So boring")])  # shots in table order


@pytest.mark.parametrize("few_k", [0, 5])
def test_strategy_prompts_reject_impossible_shot_counts(few_k):
    with pytest.raises(ValueError, match="between 1 and 4"):
        prompting.strategy_prompts(INSTRUCTION, EXAMPLES, "q", few_k)
    with pytest.raises(ValueError, match=r"needs 1 shot \(the number of examples\); got 2"):
        prompting.strategy_prompts(INSTRUCTION, EXAMPLES[:1], "q", 2)


def test_examples_are_cleaned_and_checked():
    assert prompting.check_examples([(" a ", " b "), ("", ""), (None, None)]) == [("a", "b")]
    with pytest.raises(ValueError, match="Example 2 needs both"):
        prompting.check_examples([("a", "b"), ("text only", "")])
    with pytest.raises(ValueError, match="at least one"):
        prompting.check_examples([("", "")])


def test_empty_query_is_refused():
    with pytest.raises(ValueError, match="query is empty"):
        prompting.build_prompt(INSTRUCTION, EXAMPLES, "   ")


@pytest.mark.parametrize(
    ("completion", "answer"),
    [(" positive", "positive"), (" Positive.\nText: next", "Positive."), ("\n\n  sports \nmore", "sports"),
     ("", ""), ("   ", "")],
)
def test_extract_answer_takes_the_first_non_blank_line(completion, answer):
    assert prompting.extract_answer(completion) == answer


def test_normalize_and_match_labels():
    assert prompting.normalize_label(' "Positive." ') == "positive"
    assert prompting.match_label("NEGATIVE!", ["positive", "negative"]) == "negative"
    assert prompting.match_label("Positive sentiment", ["positive", "negative"]) is None


def _pairs(items: pd.DataFrame) -> tuple[tuple[str, str], ...]:
    return tuple(items[["text", "label"]].itertuples(index=False, name=None))


def _predictions(rows):
    frame = pd.DataFrame(rows, columns=["item", "k", "shuffle", "answer", "label"])
    frame["correct"] = frame["answer"].map(prompting.normalize_label) == frame["label"].map(prompting.normalize_label)
    return frame


def test_score_accuracy_per_strategy_and_spread():
    items = pd.DataFrame({"text": ["a", "b", "c", "d"], "label": ["x", "y", "x", "y"]})
    rows = [(i, 0, 0, "x", items.label[i]) for i in range(4)]  # 2 of 4 right
    rows += [(i, 1, 0, items.label[i], items.label[i]) for i in range(4)]  # 4 of 4
    rows += [(i, 2, 0, "X.", items.label[i]) for i in range(4)]  # 2 of 4, case and dot ignored
    rows += [(i, 2, 1, "y" if i else "x", items.label[i]) for i in range(4)]  # 3 of 4
    result = prompt_eval.score(_predictions(rows), items, few_k=2)
    assert result.strategies["accuracy"].tolist() == [0.5, 1.0, 0.5]
    assert result.strategies["correct"].tolist() == [2, 4, 2]
    assert result.strategies["strategy"].tolist() == ["zero-shot", "one-shot", "few-shot (k=2)"]
    k2 = result.curve.set_index("k").loc[2]
    assert k2["mean"] == pytest.approx(0.625) and k2["min"] == 0.5 and k2["max"] == 0.75 and k2["runs"] == 2
    assert k2["std"] == pytest.approx(np.std([0.5, 0.75], ddof=1))
    assert result.curve.set_index("k").loc[0, "std"] == 0.0
    assert result.items["one-shot ✓"].tolist() == [True] * 4
    assert result.items["few-shot (k=2)"].tolist() == ["X."] * 4


def test_plan_runs_shuffles_orders_but_keeps_table_order_first():
    runs = prompt_eval.plan_runs(EXAMPLES, ks=[0, 2, 4], few_k=3, shuffles=3, seed=7)
    assert [(r.k, r.shuffle) for r in runs][:4] == [(0, 0), (1, 0), (1, 1), (1, 2)]
    assert {r.k for r in runs} == {0, 1, 2, 3, 4}
    table_order = [r for r in runs if r.shuffle == 0 and r.k == 3][0]
    assert list(table_order.shots) == EXAMPLES[:3]
    full = [r for r in runs if r.k == 4]
    assert all(sorted(r.shots) == sorted(EXAMPLES) for r in full)  # a permutation, nothing lost
    assert len({r.shots for r in full}) > 1  # orders really differ
    with pytest.raises(ValueError, match="between 0 and 4"):
        prompt_eval.plan_runs(EXAMPLES, ks=[5], few_k=1, shuffles=1)


def test_shots_are_never_scored():
    items = pd.DataFrame({"text": ["Loved it", "new one", " hated IT "], "label": ["positive", "negative", "negative"]})
    kept, excluded = prompt_eval.scorable_items(items, EXAMPLES)
    assert kept["text"].tolist() == ["new one"] and excluded == 2


def test_evaluate_on_tiny_model_batches_and_excludes_shots(tiny_llama, monkeypatch):
    calls = []
    real_generate = prompt_eval.generate
    monkeypatch.setattr(prompt_eval, "generate", lambda m, p, s: calls.append(len(p)) or real_generate(m, p, s))
    items = pd.DataFrame({"text": ["Loved it", "so good", "bad film", "meh", "wow"],
                          "label": ["positive", "positive", "negative", "negative", "positive"]})
    settings = GenerationSettings(max_new_tokens=3, stop=("\n",))
    monkeypatch.setattr(prompt_eval, "GENERATE_BATCH", 8)
    request = prompt_eval.EvalRequest(INSTRUCTION, tuple(EXAMPLES), _pairs(items), settings, few_k=3, ks=(0, 2),
                                      shuffles=2, mode="generate", prefix_cache=False)
    result = prompt_eval.evaluate(tiny_llama, request)
    assert result.excluded == 1
    assert "Loved it" not in set(result.items["text"])
    runs = prompt_eval.plan_runs(EXAMPLES, [0, 2], 3, 2)
    assert len(runs) == 7  # k = 0 once, then k = 1, 2, 3 in two orders each
    queries = ["so good", "bad film", "meh", "wow"]
    distinct = {prompting.build_prompt(INSTRUCTION, r.shots, t) for r in runs for t in queries}
    assert sum(calls) == len(distinct)  # each distinct prompt generated once …
    assert max(calls) <= 8 and len(calls) == -(-len(distinct) // 8)  # … in batches of at most 8
    assert len(result.predictions) == 7 * 4
    assert set(result.predictions["k"]) == {0, 1, 2, 3}
    assert result.strategies["scored"].tolist() == [4, 4, 4]
    assert result.curve["runs"].tolist() == [1, 2, 2, 2]
    again = prompt_eval.evaluate(tiny_llama, request)
    pd.testing.assert_frame_equal(result.predictions, again.predictions)  # greedy: deterministic


def test_evaluate_refuses_when_every_item_is_a_shot(tiny_llama):
    items = pd.DataFrame({"text": ["Loved it"], "label": ["positive"]})
    settings = GenerationSettings(max_new_tokens=2)
    request = prompt_eval.EvalRequest(INSTRUCTION, tuple(EXAMPLES), _pairs(items), settings, 1)
    with pytest.raises(ValueError, match="nothing is left"):
        prompt_eval.evaluate(tiny_llama, request)


def test_bundled_sets_have_thirty_items_disjoint_from_shots():
    for task in prompting.PRESETS.values():
        items = prompting.load_eval_set(task)
        assert len(items) == 30
        assert set(items["label"]) == {label for _, label in task.examples}
        assert prompt_eval.scorable_items(items, task.examples)[1] == 0
        assert 1 <= task.few_k <= len(task.examples) and max(task.sweep) <= len(task.examples)


def test_csv_with_old_mac_line_endings_is_read():
    frame = prompting.parse_labelled_csv(b"text,label\rFun film,positive\rDull,negative\r")
    assert frame.to_dict("list") == {"text": ["Fun film", "Dull"], "label": ["positive", "negative"]}


def test_csv_parses_text_and_label_in_any_case_and_order():
    data = "Label, Text \npositive,\"Fun, and warm\"\nnegative,Dull 😴\n\n".encode()
    frame = prompting.parse_labelled_csv(data)
    assert frame.to_dict("list") == {"text": ["Fun, and warm", "Dull 😴"], "label": ["positive", "negative"]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"text,label\n", "no rows"),
        (b"review,sentiment\ngood,positive\n", "needs columns 'text' and 'label'; found: review, sentiment"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "binary"),
        (b"text,label\ncaf\xe9,x\n", "not UTF-8"),
        (b"text,label\ngood,\n", "Row 1 has an empty label"),
        (b"text,label\na,b\n,c\n", "Row 2 has an empty text"),
        (b'text,label\n"unclosed,x\n', "not a readable CSV"),
        (b'text,label\ngood,"pos\nitive"\n', "Row 1: a label must be one line"),
    ],
)
def test_bad_csv_gets_a_message_naming_the_problem(data, message):
    with pytest.raises(ValueError, match=message):
        prompting.parse_labelled_csv(data)


def test_csv_limits_on_rows_size_and_text_length():
    many = ("text,label\n" + "".join(f"t{i},x\n" for i in range(prompting.MAX_ROWS + 1))).encode()
    with pytest.raises(ValueError, match=f"rows; the limit is {prompting.MAX_ROWS}"):
        prompting.parse_labelled_csv(many)
    with pytest.raises(ValueError, match="bytes; the limit is 1,000"):
        prompting.parse_labelled_csv(b"text,label\n" + b"a" * 1_000 + b",x\n", max_bytes=1_000)
    with pytest.raises(ValueError, match="more than 2,000 characters"):
        prompting.parse_labelled_csv(b"text,label\n" + b"a" * 2_001 + b",x\n")


def test_experiment_json_round_trip():
    experiment = {
        "instruction": INSTRUCTION, "examples": EXAMPLES, "query": "<b>q</b> 👍", "format": "chat", "few_k": 3,
        "settings": {"max_new_tokens": 5, "do_sample": False}, "items": [["a", "b"]],
        "results": {"strategies": [{"strategy": "zero-shot", "k": 0, "correct": 1, "scored": 2, "accuracy": 0.5}],
                    "curve": [{"k": 0, "mean": 0.5, "std": 0.0, "min": 0.5, "max": 0.5, "runs": 1}]},
    }
    loaded = prompting.experiment_from_json(prompting.experiment_to_json(experiment))
    assert loaded["examples"] == EXAMPLES and loaded["query"] == "<b>q</b> 👍"
    assert loaded["settings"] == experiment["settings"] and loaded["results"] == experiment["results"]
    assert loaded["items"] == [("a", "b")] and loaded["few_k"] == 3 and loaded["format"] == "chat"


@pytest.mark.parametrize(
    ("text", "message"),
    [("not json", "not valid JSON"), ("[1, 2]", "not an LLM Lens experiment"),
     ('{"version": 1, "instruction": "x"}', "missing: examples"),
     ('{"version": 1, "instruction": "", "examples": [1], "query": "q", "format": "plain", "few_k": 1}', "pairs"),
     ('{"version": 1, "instruction": "", "examples": [], "query": "q", "format": "poem", "few_k": 1}', "format")],
)
def test_bad_experiment_json_is_refused(text, message):
    with pytest.raises(ValueError, match=message):
        prompting.experiment_from_json(text)


@pytest.mark.parametrize(
    ("extra", "message"),
    [({"items": [["only text"]]}, "items must be"),
     ({"items": [["t", "l"]] * (prompting.MAX_ROWS + 1)}, "items; the limit"),
     ({"results": {"strategies": [{"accuracy": 1}], "curve": []}}, "results.strategies must be rows"),
     ({"results": {"strategies": [], "curve": "no"}}, "results.curve must be rows")],
)
def test_experiment_items_and_results_are_checked(extra, message):
    base = {"instruction": "", "examples": [["a", "b"]], "query": "q", "format": "plain", "few_k": 1}
    with pytest.raises(ValueError, match=message):
        prompting.experiment_from_json(prompting.experiment_to_json({**base, **extra}))


@pytest.mark.slow
def test_real_model_sentiment_scores_higher_few_shot_than_zero_shot(smollm2):
    task = prompting.PRESETS["Movie-review sentiment"]
    items = prompting.load_eval_set(task).iloc[:16]  # half the set keeps this test to about a minute
    assert set(items["label"]) == {"positive", "negative"}
    settings = GenerationSettings(max_new_tokens=5, stop=("\n",))
    request = prompt_eval.EvalRequest(task.instruction, task.examples, _pairs(items), settings, task.few_k,
                                      mode="generate", prefix_cache=False)
    result = prompt_eval.evaluate(smollm2, request)
    accuracy = dict(zip(result.strategies["k"], result.strategies["accuracy"]))
    assert result.strategies["scored"].tolist() == [16, 16, 16]
    assert accuracy[task.few_k] >= accuracy[0] + 0.3, result.strategies
    assert accuracy[task.few_k] >= 0.8, result.strategies


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"text,label\ngreat film,positive,extra\nbad,negative\n", "Line 2 has 3 fields but the header has 2"),
        (b"text,label\nbad,negative\nshort\n", "Line 3 has 1 fields"),
        (b"text,label,label\na,b,c\n", "more than one column named 'label'"),
        (b"Text,text,label\na,b,c\n", "more than one column named 'text'"),
    ],
)
def test_csv_with_shifted_or_duplicate_columns_is_refused_not_misread(data, message):
    with pytest.raises(ValueError, match=message):
        prompting.parse_labelled_csv(data)


def test_csv_with_extra_named_columns_keeps_text_and_label_in_place():
    frame = prompting.parse_labelled_csv(b"id,text,source,label\n1,good,web,positive\n2,bad,mail,negative\n")
    assert frame.to_dict("list") == {"text": ["good", "bad"], "label": ["positive", "negative"]}


def test_csv_quoted_commas_and_multiline_text_still_parse():
    frame = prompting.parse_labelled_csv(b'text,label\n"one, two",a\n"line\nbreak",b\n')
    assert frame["text"].tolist() == ["one, two", "line\nbreak"]


BASE = {"version": 1, "instruction": "", "examples": [["a", "b"]], "query": "q", "format": "plain", "few_k": 1}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"settings": "x"}, "settings must be an object of generation settings, not text"),
        ({"instruction": 5}, "instruction must be text, not a number"),
        ({"instruction": ["a"]}, "instruction must be text, not a list"),
        ({"format": ["plain"]}, "format must be text"),
        ({"query": None}, "query must be text, not null"),
        ({"few_k": True}, "few_k must be a whole number, not true/false"),
        ({"few_k": "3"}, "few_k must be a whole number"),
        ({"settings": {"temperature": "hot"}}, "settings.temperature must be a number"),
        ({"settings": {"do_sample": 1}}, "settings.do_sample must be true or false"),
        ({"examples": [["a", {"b": 1}]]}, "entry 1 is not"),
        ({"sweep": [0, "many"]}, "sweep must be a list of whole numbers"),
        # Out of the page's range: a number_input given such a value raised a Streamlit exception.
        ({"few_k": -5}, "few_k must be between 1 and 64; got -5"),
        ({"few_k": 10**20}, "few_k must be between 1 and 64"),
        ({"sweep": [-1, 2]}, "sweep must hold shot counts between 0 and 64"),
    ],
)
def test_experiment_with_wrong_types_gets_a_message(extra, message):
    import json

    with pytest.raises(ValueError, match=message):
        prompting.experiment_from_json(json.dumps({**BASE, **extra}))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"version": 1, "few_k": 1e400}', "1e400 is too large"),
        ('{"version": 1, "few_k": NaN}', "NaN is not a number"),
        ('{"version": 1, "few_k": -Infinity}', "Infinity is not a number"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"version": 1, "x": ' + "[" * 20 + "]" * 20 + "}", "nested 9 levels deep"),
    ],
)
def test_hostile_json_numbers_and_nesting_get_messages(text, message):
    with pytest.raises(ValueError, match=message):
        prompting.experiment_from_json(text)


def test_links_and_the_page_share_one_shot_bound():
    from core import share_state

    assert share_state.MAX_SHOTS == prompting.MAX_FEW_K

"""The Prompt strategies page under AppTest on the tiny Llama: three columns, evaluation, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from plotly_arrays import plotly_array
from streamlit.testing.v1 import AppTest

from core import prompting
from ui.sections import prompting_eval_ui

PAGE = "app_pages/prompting.py"
ROOT = Path(__file__).resolve().parents[2]


def _open(app_env, experiment: dict | None = None, name: str = "small.json") -> AppTest:
    """The page, optionally with an experiment applied the way the upload callback applies it.

    AppTest cannot upload files, so the callback's parse-and-apply steps run on a plain dict whose
    keys seed the session before the first run.
    """
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if experiment is not None:
        state: dict = {}
        loaded = prompting.experiment_from_json(prompting.experiment_to_json(experiment).encode())
        prompting_eval_ui.apply_experiment(state, loaded, name)
        for key, value in state.items():
            at.session_state[key] = value
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


SMALL = {  # short texts: the tiny model's context window is only 128 tokens
    "preset": "Movie-review sentiment", "instruction": "Sentiment?",
    "examples": [["Loved it", "positive"], ["Hated it", "negative"], ["Great fun", "positive"]],
    "query": "So dull", "format": "plain", "few_k": 2, "sweep": [0, 1],
    "items": [["Fun film", "positive"], ["Bad film", "negative"], ["Loved it", "positive"], ["Dull", "negative"],
              ["Great", "positive"]],
}


def _open_small(app_env) -> AppTest:
    return _open(app_env, SMALL)


def _texts(at) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption] + [str(e.value) for e in at.warning]
    return "\n".join(map(str, parts))


def test_prompt_longer_than_the_context_window_gets_a_message(app_env):
    at = _open(app_env)  # the preset's few-shot prompt does not fit the tiny model's 128 tokens
    assert "context window is 128" in _texts(at)
    assert len([e for e in at.expander if "of 128 tokens" in e.proto.label]) == 3


def test_page_shows_three_strategy_columns_with_prompts_and_answers(app_env):
    at = _open_small(app_env)
    headers = [h.value for h in at.subheader]
    assert headers[:3] == ["Zero-shot (k=0)", "One-shot (k=1)", "Few-shot (k=2)"]
    prompts = [c.value for c in at.code if c.value.endswith("Label:")]
    assert prompts == [
        "Sentiment?\n\nText: So dull\nLabel:",
        "Sentiment?\n\nText: Loved it\nLabel: positive\n\nText: So dull\nLabel:",
        "Sentiment?\n\nText: Loved it\nLabel: positive\n\nText: Hated it\nLabel: negative\n\nText: So dull\nLabel:",
    ]
    assert [m.label for m in at.metric if m.label == "Answer"] == ["Answer"] * 3
    chips = [h.proto.body for h in at.get("html") if "llm-lens-chips" in h.proto.body]
    assert len(chips) == 3
    ranked = [h.proto.body for h in at.get("html") if "llm-lens-label-probs" in h.proto.body]
    assert len(ranked) == 3 and all("positive" in r and "negative" in r for r in ranked)
    labels = [e.proto.label for e in at.expander if "of 128 tokens" in e.proto.label]
    counts = [int(label.split("·")[1].split("of")[0].replace(",", "")) for label in labels]
    assert len(counts) == 3 and counts[0] < counts[1] < counts[2] <= 128
    finished = [c for c in at.caption if "batch of 3 took" in c.value]
    assert len(finished) == 3  # one batched run: every column reports the same batch


def test_hostile_query_is_shown_as_text_and_never_as_html(app_env):
    at = _open_small(app_env)
    version = at.session_state["pr_version"]
    hostile = "<img src=x onerror=alert(1)> </script><script>alert(2)</script> 🎉"
    at.text_area(key=f"pr_query_{version}").input(hostile)
    at.button(key="pr_compare").click().run()
    assert not at.exception, at.exception
    assert sum(hostile in c.value for c in at.code) == 3  # st.code shows it verbatim
    for element in at.get("html"):
        assert "<img" not in element.proto.body and "<script" not in element.proto.body


def test_changing_the_shot_count_and_format_rebuilds_the_prompts(app_env):
    at = _open_small(app_env)
    version = at.session_state["pr_version"]
    at.number_input(key=f"pr_few_k_{version}").set_value(2)
    at.radio(key=f"pr_format_{version}").set_value("chat")
    at.button(key="pr_compare").click().run()
    assert not at.exception, at.exception
    assert [h.value for h in at.subheader][:3] == ["Zero-shot (k=0)", "One-shot (k=1)", "Few-shot (k=2)"]
    chats = [c.value for c in at.code if c.value.rstrip().endswith("<|im_start|>assistant")]
    assert [c.count("<|im_start|>user") for c in chats] == [1, 2, 3]


def test_too_many_shots_gets_a_message_not_a_crash(app_env):
    at = _open(app_env)
    version = at.session_state["pr_version"]
    at.number_input(key=f"pr_few_k_{version}").set_value(40)
    at.button(key="pr_compare").click().run()
    assert not at.exception, at.exception
    assert "between 1 and" in _texts(at)


def _charts(at) -> dict[str, dict]:
    """Plotly specs by title (the figure title's text)."""
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return {spec["layout"].get("title", {}).get("text", ""): spec for spec in specs}


def _items_table(at, mode: str):
    """The per-item table in a scoring mode's tab."""
    tab = next(t for t in at.tabs if t.label == prompting_eval_ui.prompt_eval.MODES[mode])
    return next(d.value for d in tab.dataframe if "text" in d.value.columns)


def test_evaluation_ranks_labels_and_shows_every_view(app_env):
    at = _open_small(app_env)
    assert at.radio(key="pr_eval_source").value == "loaded"
    assert "5 labelled items, 4 scored (1 are also shots" in _texts(at)
    assert "Estimated time: Rank the labels about" in _texts(at)
    at.number_input(key="pr_shuffles").set_value(2)
    at.button(key="pr_evaluate").click().run()
    assert not at.exception, at.exception
    charts = _charts(at)
    assert charts["Accuracy per strategy"]["data"][0]["x"] == ["zero-shot", "one-shot", "few-shot (k=2)"]
    assert plotly_array(charts["Accuracy against shots (k)"]["data"][0]["x"]).tolist() == [0, 1, 2]
    confusion = charts["Confusion: few-shot (k=2)"]["data"][0]
    assert plotly_array(confusion["z"]).sum() == 4  # every scored item lands in one cell
    assert any(t.startswith("Reliability diagram (ECE") for t in charts)
    assert "Label bias: predicted vs true" in charts
    assert "Which shot helped (with the shot − without it)" in charts
    items = _items_table(at, "rank")
    assert items["text"].tolist() == ["Fun film", "Bad film", "Dull", "Great"]  # the shot "Loved it" is not scored
    probabilities = items["few-shot (k=2) probabilities"].tolist()
    for text in probabilities:  # "positive 0.73 · negative 0.27": two labels, summing to one
        values = [float(part.rsplit(" ", 1)[1]) for part in text.split(" · ")]
        assert len(values) == 2 and sum(values) == pytest.approx(1.0, abs=0.011)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["one-shot"] == f"{items['one-shot ✓'].sum() / 4:.0%}"
    assert any("before → after contextual calibration" in m.label for m in at.metric)
    at.run()  # a rerun shows the same result without a new press (the worker's result is shared)
    assert "Accuracy per strategy" in _charts(at)


def test_both_modes_side_by_side(app_env):
    at = _open_small(app_env)
    at.button_group(key="pr_eval_modes").set_value(["rank", "generate"])
    at.button(key="pr_evaluate").click().run()
    assert not at.exception, at.exception
    assert not [b for b in at.button if b.key == "pr_stop"]  # finished in this run: no Stop button left
    bars = _charts(at)["Accuracy per strategy"]["data"]
    assert [b["name"] for b in bars] == ["Rank the labels", "Generate and match"]
    assert [t.label for t in at.tabs] == ["Rank the labels", "Generate and match"]
    generated = _items_table(at, "generate")
    assert "few-shot (k=2) probabilities" not in generated.columns and "few-shot (k=2)" in generated.columns


def test_hostile_label_is_text_in_tables_and_charts(app_env):
    hostile = "<b>x</b>"
    experiment = {**SMALL, "examples": [["Loved it", hostile], ["Hated it", "negative"], ["Great fun", hostile]],
                  "items": [["Fun film", hostile], ["Bad film", "negative"]]}
    at = _open(app_env, experiment)
    at.button(key="pr_evaluate").click().run()
    assert not at.exception, at.exception
    for element in at.get("html"):
        assert "<b>x" not in element.proto.body
    assert any("&lt;b&gt;x&lt;/b&gt;" in h.proto.body for h in at.get("html"))
    confusion = _charts(at)["Confusion: few-shot (k=2)"]
    assert "&lt;b&gt;x&lt;/b&gt;" in confusion["layout"]["xaxis"]["ticktext"]


def test_a_label_over_its_cap_is_one_message_and_the_evaluation_points_to_it(app_env):
    long = "word " * (prompting.MAX_LABEL_TOKENS + 1)
    at = _open(app_env, {**SMALL, "examples": [["Loved it", long], ["Hated it", "negative"]]})
    assert not at.exception, at.exception
    messages = [w.value for w in at.warning if "a label is limited to" in w.value]
    assert len(messages) == 1 and messages[0].startswith("Example 1: the label"), messages
    assert any("Fix the examples above" in w.value for w in at.warning)
    assert not [b for b in at.button if b.key == "pr_evaluate"]


def test_query_over_the_token_cap_is_refused_before_any_work(app_env):
    at = _open_small(app_env)
    at.text_area(key=f"pr_query_{at.session_state['pr_version']}").input("word " * (prompting.MAX_PART_TOKENS + 5))
    at.button(key="pr_compare").click().run()
    assert not at.exception, at.exception
    assert f"the limit is {prompting.MAX_PART_TOKENS} per query or shot" in _texts(at)
    assert not [m for m in at.metric if m.label == "Answer"]  # nothing was generated


def test_experiment_json_written_before_scoring_modes_still_loads(app_env):
    old = {  # the format of the previous release: no mode, results with strategies, curve and items only
        **SMALL, "shuffles": 2, "shuffle_seed": 0, "settings": {"max_new_tokens": 5, "do_sample": False},
        "results": {"strategies": [{"strategy": "zero-shot", "k": 0, "correct": 1, "scored": 4, "accuracy": 0.25}],
                    "curve": [{"k": 0, "mean": 0.25, "std": 0.0, "min": 0.25, "max": 0.25, "runs": 1}],
                    "items": [{"text": "Fun film", "label": "positive", "zero-shot": "good", "zero-shot ✓": False}]},
    }
    at = _open(app_env, old, "old.json")
    assert at.button_group(key="pr_eval_modes").value == ["rank"]  # the default: nothing to restore
    traces = [t.get("name") for c in at.get("plotly_chart") for t in json.loads(c.proto.spec)["data"]]
    assert "Loaded: old.json" in traces


def test_bundled_set_is_offered_with_its_thirty_items(app_env):
    at = _open(app_env)
    assert at.radio(key="pr_eval_source").value == "bundled"
    assert "30 labelled items, 30 scored" in _texts(at)


def test_experiment_loads_back_into_the_editor(app_env):
    experiment = {
        **SMALL, "instruction": "Say positive or negative.", "query": "Not bad at all", "shuffles": 9,
        "settings": {"max_new_tokens": 3, "do_sample": True, "temperature": 9.0},
        "results": {"strategies": [{"strategy": "zero-shot", "k": 0, "correct": 1, "scored": 2, "accuracy": 0.5}],
                    "curve": [{"k": 0, "mean": 0.5, "std": 0.0, "min": 0.5, "max": 0.5, "runs": 1}]},
    }
    at = _open(app_env, experiment, "mine.json")
    assert at.session_state["gen_temperature"] == 2.0  # clamped to the slider's range
    assert at.session_state["gen_label_tokens"] == 3 and at.session_state["pr_shuffles"] == 5
    prompts = [c.value for c in at.code if c.value.endswith("Label:")]
    assert prompts[0] == "Say positive or negative.\n\nText: Not bad at all\nLabel:"
    assert prompts[2].count("Text:") == 3
    assert at.toggle(key="gen_do_sample").value is True
    traces = [t.get("name") for c in at.get("plotly_chart") for t in json.loads(c.proto.spec)["data"]]
    assert "Loaded: mine.json" in traces  # saved results shown before any new evaluation


def test_encoder_model_gets_an_explanation_not_a_crash(app_env, tiny_bert_path, monkeypatch):
    monkeypatch.setenv("LLM_LENS_MODEL", str(tiny_bert_path))
    at = _open(app_env)
    assert any("is an encoder" in i.value for i in at.info)
    assert len(at.subheader) == 0


@pytest.mark.parametrize("query", ["x" * 100_000, "   ", "😀 中文 é"])
def test_long_empty_or_emoji_queries_get_messages_not_crashes(app_env, query):
    at = _open_small(app_env)
    at.text_area(key=f"pr_query_{at.session_state['pr_version']}").input(query)
    at.button(key="pr_compare").click().run()
    assert not at.exception, at.exception
    text = _texts(at)
    if not query.strip():
        assert "query is empty" in text
    elif len(query) > 1000:
        assert "context window is 128" in text or "limit is" in text
    else:  # a short mixed-script query fits the tiny context window: three answers, no message
        assert [m.label for m in at.metric if m.label == "Answer"] == ["Answer"] * 3 and not at.warning
        assert sum(query in c.value for c in at.code) == 3


def test_a_stopped_evaluation_shows_its_partial_results(app_env, monkeypatch):
    from core.prompting import prompt_eval

    real, checks = prompt_eval.evaluate, []

    def stop_after_two_batches(model, request, progress=None, should_stop=None):
        return real(model, request, progress, lambda: checks.append(1) or len(checks) > 2)

    monkeypatch.setattr(prompt_eval, "evaluate", stop_after_two_batches)
    at = _open_small(app_env)
    at.number_input(key="pr_shuffle_seed").set_value(777)  # a request no other test ran
    at.button(key="pr_evaluate").click().run()
    assert not at.exception, at.exception
    assert any("was stopped: these are partial results" in w.value for w in at.warning)
    assert _charts(at)["Accuracy per strategy"]["data"][0]["x"] == ["zero-shot", "one-shot"]


@pytest.mark.parametrize("error,seed,shown", [
    (RuntimeError("a kernel broke"), 778, "The evaluation failed: RuntimeError: a kernel broke"),
    (MemoryError(), 779, "ran out of memory"),
])
def test_an_evaluation_that_crashes_shows_an_error_not_a_blank_page(app_env, monkeypatch, error, seed, shown):
    from core.prompting import prompt_eval

    def breaks(model, request, progress=None, should_stop=None):
        raise error

    monkeypatch.setattr(prompt_eval, "evaluate", breaks)
    at = _open_small(app_env)
    at.number_input(key="pr_shuffle_seed").set_value(seed)  # a request no other test ran
    at.button(key="pr_evaluate").click().run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert any(shown in message for message in errors), errors
    if isinstance(error, MemoryError):
        assert any("fewer" in message for message in errors), errors
    at.run()  # a rerun still shows it (the slot keeps the message)
    assert any(shown in e.value for e in at.error)

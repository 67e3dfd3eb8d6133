"""Prompt strategies page sections: the task editor and the zero/one/few-shot columns streamed side by side."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import streamlit as st

import core
from core import prompting
from ui import choices, widgets
from ui.caching import cache
from ui.choices import Choice
from ui.markdown import md_text
from viz.prompting import completion_tokens_html, label_probabilities_html

TITLES = ("Zero-shot", "One-shot", "Few-shot")
PRESET = Choice("pr_preset", "choice", next(iter(prompting.PRESETS)), choices=tuple(prompting.PRESETS),
                label="Task preset", widget="select", help="Each preset comes with shots and a labelled test set.")
CHOICES = (PRESET,)  # plus the sidebar's generation settings (ui.settings, budget LABEL_TOKENS)


@dataclass(frozen=True)
class TaskInputs:
    """What the user set up in the task editor (examples not yet cleaned: core checks them)."""

    preset: str
    instruction: str
    examples: tuple[tuple[str, str], ...]
    query: str
    few_k: int
    fmt: str
    sweep: tuple[int, ...]



def preset_base(name: str) -> dict:
    """The editor's starting values for a preset."""
    task = prompting.PRESETS[name]
    return {"preset": name, "instruction": task.instruction, "examples": list(task.examples), "query": task.query,
            "few_k": task.few_k, "format": "plain", "sweep": list(task.sweep)}


def set_base(base: dict, new_task: bool = True) -> None:
    """Replace the editor's starting values; a new version gives every editor widget a fresh key.

    A new task (preset or loaded experiment) also resets the evaluation's shot-count choice.
    """
    st.session_state["pr_base"] = base
    st.session_state["pr_version"] = st.session_state.get("pr_version", 0) + 1
    if new_task:
        st.session_state["pr_task_version"] = st.session_state.get("pr_task_version", 0) + 1


def _preset_changed() -> None:
    set_base(preset_base(st.session_state["pr_preset"]))


def task_inputs() -> TaskInputs:
    """Preset choice, then a form with instruction, example table, query, shot count and format."""
    name = choices.show(PRESET, on_change=_preset_changed, persist_state="session")
    if "pr_base" not in st.session_state:
        set_base(preset_base(name))
    base, version = st.session_state["pr_base"], st.session_state["pr_version"]
    with st.form("pr_form", border=True):
        instruction = st.text_area("Instruction", base["instruction"], key=f"pr_instruction_{version}", height=68,
                                   persist_state="session")
        st.caption("Labelled examples: the shots, used in table order (add, edit or delete rows).")
        table = st.data_editor(
            pd.DataFrame(base["examples"], columns=["text", "label"]), num_rows="dynamic", hide_index=True,
            key=f"pr_examples_{version}", column_config={"text": st.column_config.TextColumn("text", width="large")},
        )
        query = st.text_area("Query (the text to classify)", base["query"], key=f"pr_query_{version}", height=68,
                             persist_state="session")
        left, right = st.columns(2)
        few_k = left.number_input("Shots in the few-shot column", 1, prompting.MAX_FEW_K, int(base["few_k"]),
                                  key=f"pr_few_k_{version}", persist_state="session")
        fmt = right.radio("Prompt format", list(prompting.FORMATS), format_func=prompting.FORMATS.get,
                          index=list(prompting.FORMATS).index(base["format"]), horizontal=True,
                          key=f"pr_format_{version}", persist_state="session",
                          help="Plain: the model continues 'Label:'. Chat: each shot is a user/assistant turn.")
        submitted = st.form_submit_button("Compare", type="primary", key="pr_compare")
    rows = table.fillna("").astype(str).itertuples(index=False)
    examples = tuple((r.text, r.label) for r in rows)
    if submitted and list(examples) != [tuple(e) for e in base["examples"]]:
        # st.data_editor has no persist_state: the edited table becomes the base, so it survives a page switch.
        set_base({**base, "instruction": instruction, "examples": list(examples), "query": query,
                  "few_k": int(few_k), "format": fmt}, new_task=False)
    return TaskInputs(name, instruction, examples, query, int(few_k), fmt, tuple(base.get("sweep", ())))


def compare_columns(model: core.LoadedModel, inputs: TaskInputs, settings: core.GenerationSettings) -> None:
    """Three columns: each strategy's full prompt, its completion streamed live, answer and token chips."""
    try:
        prompting.check_token_caps(model.tokenizer, prompting.check_examples(inputs.examples), inputs.query)
        prompts = prompting.strategy_prompts(
            inputs.instruction, inputs.examples, inputs.query, inputs.few_k, inputs.fmt, model.tokenizer
        )
        counts = [len(cache.get_tokens(widgets.model_key(), prompt)) for prompt in prompts]
    except ValueError as error:
        widgets.show_error(error)
        return
    columns = st.columns(3, border=True)
    live = []
    for column, title, k, prompt, count in zip(columns, TITLES, (0, 1, inputs.few_k), prompts, counts):
        with column:
            st.subheader(f"{title} (k={k})")
            with st.expander(f"Prompt · {count:,} of {model.info.context_window:,} tokens"):
                st.code(prompt, language=None, wrap_lines=True)
            live.append(st.empty())

    def on_step(texts: tuple[str, ...]) -> None:
        for slot, text in zip(live, texts):
            slot.code(text + "▌", language=None, wrap_lines=True)

    try:
        with widgets.model_wait("Generating the three completions as one batch…"):
            completions = cache.get_strategy_completions(widgets.model_key(), prompts, settings, _on_step=on_step)
    except ValueError as error:
        widgets.show_error(error)
        return
    labels = fill_columns(columns, live, completions, inputs.examples, _answer)
    _ranked_labels(columns, prompts, tuple(labels), inputs.fmt)


def _ranked_labels(columns, prompts: tuple[str, ...], labels: tuple[str, ...], fmt: str) -> None:
    """Under each column: the model's probability for each label as the continuation of that prompt."""
    try:
        ranked = cache.get_query_label_scores(widgets.model_key(), prompts, labels, fmt)
    except ValueError as error:
        widgets.show_error(error)
        return
    for column, scores in zip(columns, ranked):
        with column:
            st.caption("Ranked labels: P(label | prompt), renormalised over the labels")
            st.html(label_probabilities_html(labels, scores.probabilities()[0]))


def fill_columns(columns, live, completions, examples, answer: Callable[[object, list[str]], None]) -> list[str]:
    """Each completion's text in its live slot and its answer below; returns the example labels, sorted."""
    labels = sorted({label.strip() for _, label in examples if label.strip()})
    for column, slot, completion in zip(columns, live, completions):
        slot.code(completion.text or " ", language=None, wrap_lines=True)
        with column:
            answer(completion, labels)
    return labels


def _answer(completion: core.Completion, labels: list[str]) -> None:
    answer = prompting.extract_answer(completion.text)
    matched = prompting.match_label(answer, labels)
    st.metric("Answer", answer or "(empty)", help="The first line of the completion, stripped.")
    st.caption(f"Matches the label **{md_text(matched)}**." if matched else "Not one of the example labels.")
    st.html(completion_tokens_html(completion.token_labels, completion.logprobs))
    st.caption(f"{len(completion.token_ids)} tokens · batch of 3 took {completion.seconds:.1f} s · "
               f"stopped: {completion.finish_reason}")

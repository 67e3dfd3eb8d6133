"""Prompt strategies page sections: the task editor and the zero/one/few-shot columns streamed side by side."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import pandas as pd
import streamlit as st

import core
from core import prompting
from ui import choices, widgets
from ui import settings as settings_ui
from ui.caching import prompting_cache
from ui.choices import Choice
from ui.markdown import md_text
from viz.prompting import completion_tokens_html, label_probabilities_html

TITLES = ("Zero-shot", "One-shot", "Few-shot")
PRESET = Choice("pr_preset", "choice", next(iter(prompting.PRESETS)), choices=tuple(prompting.PRESETS),
                label="Task preset", widget="select", help="Each preset comes with shots and a labelled test set.")
STOP = ("\n",)  # labels are one word: a newline ends the answer
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


def default_inputs() -> TaskInputs:
    """What task_inputs returns for a session that changed nothing: the first preset as it comes."""
    base = preset_base(PRESET.default)
    return TaskInputs(PRESET.default, base["instruction"], tuple(map(tuple, base["examples"])), base["query"],
                      int(base["few_k"]), base["format"], tuple(base["sweep"]))


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


class StrategyBackend(Protocol):
    """What answers the Prompt strategies page: this app's model or a served one (ui/sections/prompting_backends.py)."""

    def intro(self, inputs: TaskInputs) -> None:
        """Anything to say above the three columns."""

    def strategy_prompts(self, inputs: TaskInputs) -> StrategyPrompts:
        """The zero-, one- and few-shot prompts, checked (ValueError names the problem)."""

    def complete(self, prompts: tuple, settings: core.GenerationSettings,
                 on_update: Callable[[tuple[str, ...]], None]) -> list:
        """The three completions, streamed into on_update as they grow."""

    def answer_parts(self, completion) -> AnswerParts:
        """A completion's token chips (when known) and its footer line."""

    def after(self, columns: list, prompts: tuple, labels: tuple[str, ...], fmt: str) -> None:
        """Anything to show under the columns once every completion is in."""

    def check_examples(self, inputs: TaskInputs) -> tuple[tuple[str, str], ...]:
        """The cleaned examples, or ValueError (the comparison above already showed its message)."""

    def evaluation(self, inputs: TaskInputs, examples: tuple[tuple[str, str], ...], items: pd.DataFrame,
                   settings: core.GenerationSettings) -> None:
        """The evaluation's own widgets, run and results."""


@dataclass(frozen=True)
class StrategyPrompts:
    """The three strategy prompts as a backend sends them, and how each column shows them."""

    sent: tuple  # a prompt string or chat turns, per strategy
    shown: tuple[str, ...]  # each prompt as text
    headings: tuple[str, ...]  # each prompt expander's title


@dataclass(frozen=True)
class AnswerParts:
    """What a column shows under its answer: token chips (None when the backend has no log-probs) and a footer."""

    token_texts: tuple[str, ...] | None
    logprobs: object  # per-token log-probabilities, or None
    footer: str


def compare_columns(backend: StrategyBackend, inputs: TaskInputs, settings: core.GenerationSettings) -> None:
    """Three columns: each strategy's full prompt, its completion streamed live, answer and token chips."""
    backend.intro(inputs)
    try:
        prompts = backend.strategy_prompts(inputs)
    except ValueError as error:
        widgets.show_error(error)  # the shots stay in the editor above
        return
    columns = st.columns(3, border=True)
    live = []
    for column, title, k, shown, heading in zip(columns, TITLES, (0, 1, inputs.few_k), prompts.shown,
                                                 prompts.headings):
        with column:
            st.subheader(f"{title} (k={k})")
            with st.expander(heading):
                st.code(shown, language=None, wrap_lines=True)
            live.append(st.empty())

    def on_update(texts: tuple[str, ...]) -> None:
        for slot, text in zip(live, texts):
            slot.code(text + "▌", language=None, wrap_lines=True)

    try:
        completions = backend.complete(prompts.sent, settings, on_update)
    except ValueError as error:
        widgets.show_error(error)
        return
    labels = _labels(inputs)
    for column, slot, completion in zip(columns, live, completions):
        slot.code(completion.text or " ", language=None, wrap_lines=True)
        with column:
            _answer(completion.text, labels, backend.answer_parts(completion))
    backend.after(columns, prompts.sent, labels, inputs.fmt)


def in_process_prompts(model: core.LoadedModel, inputs: TaskInputs) -> tuple[str, ...]:
    """The zero-, one- and few-shot prompts in the chosen format, checked against the model's token caps."""
    prompting.check_token_caps(model.tokenizer, prompting.check_examples(inputs.examples), inputs.query)
    return tuple(prompting.strategy_prompts(inputs.instruction, inputs.examples, inputs.query, inputs.few_k,
                                            inputs.fmt, model.tokenizer))


def warm(model: core.LoadedModel, name: str) -> None:
    """What the page opens on, computed before anyone asks: the default task's three completions, labels ranked,
    and the model's measured speed (the evaluation's time estimate)."""
    prompting_cache.get_throughput(name)  # the evaluation's time estimate: one timed forward, once per model
    inputs = default_inputs()
    prompts = in_process_prompts(model, inputs)
    prompting_cache.get_strategy_completions(name, prompts, default_settings())
    prompting_cache.get_query_label_scores(name, prompts, _labels(inputs), inputs.fmt)


def default_settings() -> core.GenerationSettings:
    """The page's generation settings before anyone changes them (labels are one word: a newline stops)."""
    return settings_ui.default_generation_settings(settings_ui.LABEL_TOKENS, stop=STOP)


def _labels(inputs: TaskInputs) -> tuple[str, ...]:
    return tuple(sorted({label.strip() for _, label in inputs.examples if label.strip()}))


def ranked_labels(columns: list, prompts: tuple[str, ...], labels: tuple[str, ...], fmt: str) -> None:
    """Under each column: the model's probability for each label as the continuation of that prompt."""
    try:
        ranked = prompting_cache.get_query_label_scores(widgets.model_key(), prompts, labels, fmt)
    except ValueError as error:
        widgets.show_error(error)
        return
    for column, scores in zip(columns, ranked):
        with column:
            st.caption("Ranked labels: P(label | prompt), renormalised over the labels")
            st.html(label_probabilities_html(labels, scores.probabilities()[0]))


def _answer(text: str, labels: list[str], parts: AnswerParts) -> None:
    answer = prompting.extract_answer(text)
    matched = prompting.match_label(answer, labels)
    st.metric("Answer", answer or "(empty)", help="The first line of the completion, stripped.")
    st.caption(f"Matches the label **{md_text(matched)}**." if matched else "Not one of the example labels.")
    if parts.logprobs is not None:
        st.html(completion_tokens_html(parts.token_texts, parts.logprobs))
    else:
        st.caption("The server returned no token log-probabilities, so per-token confidence cannot be shown.")
    st.caption(parts.footer)

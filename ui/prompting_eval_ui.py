"""Prompt strategies page, second half: score strategies over a labelled set, save and load experiments."""

from __future__ import annotations

import dataclasses
from collections.abc import MutableMapping

import pandas as pd
import streamlit as st

import core
from core import prompt_eval, prompting
from core.export import safe_csv
from ui import cache, widgets
from ui.prompting_ui import TaskInputs, preset_base
from ui.settings import MAX_NEW_TOKENS_LIMIT
from ui.widgets import model_key
from viz.prompting import accuracy_bars, accuracy_vs_k

SOURCES = {"bundled": "Bundled set of the preset", "upload": "Upload a CSV (text,label)", "loaded": "Loaded experiment"}
BATCH_SIZE = 12  # prompts per batched generate call: enough to amortise the weights read, small enough to stream


def labelled_items(inputs: TaskInputs) -> pd.DataFrame | None:
    """The labelled set to score: bundled, uploaded or from a loaded experiment (None when missing)."""
    options = [s for s in SOURCES if s != "loaded" or "pr_loaded_items" in st.session_state]
    source = st.radio("Labelled set", options, format_func=SOURCES.get, horizontal=True, key="pr_eval_source")
    if source == "bundled":
        return prompting.load_eval_set(prompting.PRESETS[inputs.preset])
    if source == "loaded":
        return pd.DataFrame(st.session_state["pr_loaded_items"], columns=["text", "label"])
    upload = st.file_uploader("CSV with columns text,label (UTF-8, at most "
                              f"{prompting.MAX_ROWS} rows)", type=["csv"], key="pr_eval_csv")
    if upload is None:
        st.info("Upload a CSV file with a header row `text,label` to score your own set.")
        return None
    try:
        return prompting.parse_labelled_csv(upload.getvalue())
    except ValueError as error:
        widgets.show_error(error)
        return None


def evaluation_section(model: core.LoadedModel, inputs: TaskInputs, settings: core.GenerationSettings) -> None:
    """Choose the set, the shot counts and orders; on request score every strategy with a progress bar."""
    items = labelled_items(inputs)
    try:
        examples = prompting.check_examples(inputs.examples)
    except ValueError as error:
        widgets.show_error(error)
        return
    if items is None:
        return
    left, middle, right = st.columns(3)
    default = [k for k in inputs.sweep if k <= len(examples)] or [0, 1]
    ks = left.multiselect("Shot counts for the k chart", list(range(len(examples) + 1)), default=default,
                          key=f"pr_ks_{st.session_state.get('pr_task_version', 0)}", persist_state="session")
    shuffles = middle.number_input("Example orders", 1, 5, 2, key="pr_shuffles", persist_state="session",
                                   help="1 is the table's order; more are seeded shuffles: the error bars.")
    seed = right.number_input("Shuffle seed", 0, 10_000, 0, key="pr_shuffle_seed", persist_state="session")
    pairs = tuple((str(t), str(label)) for t, label in items[["text", "label"]].itertuples(index=False))
    request = (inputs.instruction, tuple(examples), pairs, settings, inputs.few_k, tuple(sorted(ks)), int(shuffles),
               inputs.fmt, int(seed))
    scored, excluded = prompt_eval.scorable_items(items, examples)
    try:
        n_runs = len(prompt_eval.plan_runs(examples, ks, inputs.few_k, int(shuffles), int(seed)))
    except ValueError:
        n_runs = 0  # evaluate() names the problem when the button is pressed
    st.caption(f"{len(items)} labelled items, {len(scored)} scored ({excluded} are also shots, so never scored). "
               f"Up to {n_runs * len(scored):,} prompts, in batches of {BATCH_SIZE}; a CPU answers a batch "
               "in a few seconds.")
    result = None
    if cache.has_prompt_evaluation(model_key(), request) or st.button("Evaluate", key="pr_evaluate", type="primary"):
        bar = st.progress(0.0, text="Starting…")
        try:
            result = cache.get_prompt_evaluation(model_key(), request, _progress=lambda f, m: bar.progress(f, text=m))
        except ValueError as error:
            widgets.show_error(error)
        bar.empty()
    show_results(result)
    experiment_files(inputs, settings, request, result)


def show_results(result: prompt_eval.Evaluation | None) -> None:
    """Accuracy per strategy, accuracy against k with its spread, and every item's predictions."""
    loaded = st.session_state.get("pr_loaded_results")
    runs = {"This run": result} if result is not None else {}
    strategies = {name: r.strategies for name, r in runs.items()}
    curves = {name: r.curve for name, r in runs.items()}
    if loaded:
        strategies[loaded["name"]] = pd.DataFrame(loaded["strategies"])
        curves[loaded["name"]] = pd.DataFrame(loaded["curve"])
    if not strategies:
        return
    if result is not None:
        cells = st.columns(len(result.strategies))
        base = float(result.strategies["accuracy"].iloc[0])
        for cell, row in zip(cells, result.strategies.itertuples()):
            delta = None if row.k == 0 else f"{row.accuracy - base:+.0%} vs zero-shot"
            cell.metric(row.strategy, f"{row.accuracy:.0%}", delta, help=f"{row.correct} of {row.scored} right")
    left, right = st.columns(2)
    left.plotly_chart(accuracy_bars(strategies), key="pr_bars")
    right.plotly_chart(accuracy_vs_k(curves), key="pr_curve")
    if result is not None:
        checks = {c: st.column_config.CheckboxColumn(c) for c in result.items.columns if c.endswith("✓")}
        st.dataframe(result.items, hide_index=True, column_config=checks, key="pr_items")
        st.download_button("Download predictions (CSV)", safe_csv(result.items), "predictions.csv",
                           "text/csv", key="pr_download_csv", on_click="ignore")


def experiment_files(inputs: TaskInputs, settings: core.GenerationSettings, request: tuple,
                     result: prompt_eval.Evaluation | None) -> None:
    """Download the whole experiment as JSON, or load one back to rerun it or compare with it."""
    with st.expander("Save or load an experiment (JSON)"):
        experiment = {
            "model": model_key(), "preset": inputs.preset, "instruction": inputs.instruction,
            "examples": [list(pair) for pair in request[1]], "query": inputs.query, "format": inputs.fmt,
            "few_k": inputs.few_k, "sweep": list(request[5]), "shuffles": request[6], "shuffle_seed": request[8],
            "settings": dataclasses.asdict(settings), "items": [list(pair) for pair in request[2]],
            "results": None if result is None else {
                "strategies": result.strategies.to_dict("records"), "curve": result.curve.to_dict("records"),
                "items": result.items.to_dict("records"),
            },
        }
        st.download_button("Download experiment (JSON)", prompting.experiment_to_json(experiment),
                           "experiment.json", "application/json", key="pr_download_json", on_click="ignore")
        st.file_uploader("Load an experiment", type=["json"], key="pr_experiment_file", on_change=_load_experiment)
        if error := st.session_state.get("pr_load_error"):
            widgets.show_error(ValueError(error))


def _load_experiment() -> None:
    """Upload callback: restore the editor, settings and labelled set; keep the saved results."""
    upload = st.session_state.get("pr_experiment_file")
    st.session_state.pop("pr_load_error", None)
    if upload is None:
        return
    try:
        loaded = prompting.experiment_from_json(upload.getvalue())
    except ValueError as error:
        st.session_state["pr_load_error"] = str(error)
        return
    apply_experiment(st.session_state, loaded, upload.name)


def apply_experiment(state: MutableMapping, loaded: dict, name: str) -> None:
    """Write a parsed experiment into session state: editor base, generation settings, set and results."""
    preset = loaded.get("preset") if loaded.get("preset") in prompting.PRESETS else state.get("pr_preset")
    preset = preset or next(iter(prompting.PRESETS))
    state["pr_preset"] = preset
    editor = {key: loaded[key] for key in ("instruction", "examples", "query", "few_k", "format")}
    state["pr_base"] = {**preset_base(preset), **editor, "sweep": loaded.get("sweep") or preset_base(preset)["sweep"]}
    state["pr_version"] = state.get("pr_version", 0) + 1  # fresh widget keys show the loaded values
    state["pr_task_version"] = state.get("pr_task_version", 0) + 1
    _restore_settings(state, loaded.get("settings") or {})
    for key, field in (("pr_shuffles", "shuffles"), ("pr_shuffle_seed", "shuffle_seed")):
        if isinstance(loaded.get(field), int) and not isinstance(loaded[field], bool):
            state[key] = min(max(loaded[field], 1 if field == "shuffles" else 0), 5 if field == "shuffles" else 10_000)
    if loaded["items"]:
        state["pr_loaded_items"] = loaded["items"]
        state["pr_eval_source"] = "loaded"
    if loaded["results"]:
        state["pr_loaded_results"] = {"name": f"Loaded: {name}"[:60], **loaded["results"]}


def _restore_settings(state: MutableMapping, saved: dict) -> None:
    """Put saved generation settings back into the shared gen_ widgets, clamped to their ranges."""
    fields = {  # field: (widget key, type, low, high)
        "temperature": ("gen_temperature", float, 0.0, 2.0), "top_p": ("gen_top_p", float, 0.0, 1.0),
        "top_k": ("gen_top_k", int, 0, 50_000), "seed": ("gen_seed", int, 0, 2**31 - 1),
        "max_new_tokens": ("gen_label_tokens", int, 1, MAX_NEW_TOKENS_LIMIT),
    }
    if isinstance(saved.get("do_sample"), bool):
        state["gen_do_sample"] = saved["do_sample"]
    for field, (key, kind, low, high) in fields.items():
        if isinstance(saved.get(field), int | float) and not isinstance(saved[field], bool):
            state[key] = kind(min(max(saved[field], low), high))

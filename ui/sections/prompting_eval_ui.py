"""Prompt strategies page, second half: score strategies over a labelled set, save and load experiments."""

from __future__ import annotations

import time
from collections.abc import MutableMapping

import pandas as pd
import streamlit as st

import core
from core import prompting
from core.prompting import eval_report, prompt_eval
from core.prompting.eval_request import MODES, NORMALISATIONS, EvalRequest, experiment_record
from ui import widgets
from ui.caching import prompting_cache
from ui.markdown import md_text
from ui.sections import prompting_metrics_ui, prompting_repeats_ui
from ui.sections.prompting_ui import StrategyBackend, TaskInputs, preset_base
from ui.settings import LABEL_TOKENS, SAMPLE, SEED, TEMPERATURE, TOP_K, TOP_P
from ui.widgets import model_key
from viz.prompting import accuracy_bars, accuracy_vs_k

RunChoices = tuple[tuple[int, ...], int, int]  # (shot counts for the k chart, example orders, shuffle seed)
SOURCES = {"bundled": "Bundled set of the preset", "upload": "Upload a CSV (text,label)", "loaded": "Loaded experiment"}
POLL_SECONDS = 0.3  # how often a page re-reads a running evaluation's progress


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


def evaluation_section(backend: StrategyBackend, inputs: TaskInputs, settings: core.GenerationSettings) -> None:
    """Choose the labelled set; the backend scores every strategy over it (or says which examples to fix)."""
    items = labelled_items(inputs)
    try:
        examples = backend.check_examples(inputs)
    except ValueError:  # the comparison above has already shown this message (it checks the examples first)
        st.warning("Fix the examples above (see the message there) to score them over a labelled set.", icon="⚠️")
        return
    if items is None:
        return
    backend.evaluation(inputs, examples, items, settings)


def run_choices(inputs: TaskInputs, examples, prefix: str, orders: int, persist: bool) -> RunChoices:
    """(shot counts for the k chart, example orders, shuffle seed) from one row of widgets keyed by prefix."""
    persist_state = "session" if persist else None
    left, middle, right = st.columns(3)
    default = [k for k in inputs.sweep if 0 <= k <= len(examples)] or [0, 1]
    ks = left.multiselect("Shot counts for the k chart", list(range(len(examples) + 1)), default=default,
                          key=f"{prefix}_ks_{st.session_state.get('pr_task_version', 0)}", persist_state=persist_state)
    shuffles = middle.number_input("Example orders", 1, 5, orders, key=f"{prefix}_shuffles",
                                   persist_state=persist_state,
                                   help="1 is the table's order; more are seeded shuffles: the error bars.")
    seed = right.number_input("Shuffle seed", 0, 10_000, 0, key=f"{prefix}_shuffle_seed", persist_state=persist_state)
    return tuple(sorted(ks)), int(shuffles), int(seed)


def local_evaluation(model: core.LoadedModel, inputs: TaskInputs, examples, items: pd.DataFrame,
                     settings: core.GenerationSettings) -> None:
    """Scoring modes and estimate; run on request (or watch a run in progress), then results and files."""
    requests = _requests(inputs, examples, items, settings)
    scored, excluded = prompt_eval.scorable_items(items, examples)
    st.caption(f"{len(items)} labelled items, {len(scored)} scored ({excluded} are also shots, so never scored). "
               + _estimate_text(requests))
    repeats = prompting_repeats_ui.repeat_requests(requests)
    if st.button("Evaluate", key="pr_evaluate", type="primary"):
        _start(model, {**requests, **repeats})
    _watch({**requests, **repeats})
    results = {mode: prompting_cache.prompt_evaluation(model_key(), r).get("result") for mode, r in requests.items()}
    for request in requests.values():
        slot = prompting_cache.prompt_evaluation(model_key(), request)
        if slot.get("error") and slot.get("failed"):  # a crash or out of memory, not bad input
            st.error(md_text(slot["error"]), icon="🚫")
        elif slot.get("error"):
            widgets.show_error(ValueError(slot["error"]))
    results = {mode: r for mode, r in results.items() if r is not None}
    show_results(results)
    prompting_repeats_ui.show_repeats(requests.get("generate"), repeats)
    first = next(iter(requests.values()))
    experiment_files(inputs, settings, first, next(iter(results.values()), None))


def _requests(inputs: TaskInputs, examples, items: pd.DataFrame, settings) -> dict[str, EvalRequest]:
    """One request per chosen scoring mode, from the evaluation widgets."""
    ks, shuffles, seed = run_choices(inputs, examples, "pr", 2, persist=True)
    left, middle, right = st.columns(3)
    modes = left.pills("Scoring", list(MODES), format_func=MODES.get, selection_mode="multi",
                       default=["rank"], key="pr_eval_modes", persist_state="session",
                       help="Rank: which label the model finds most likely after the prompt (its probability for "
                            "each). Generate: what the model writes, matched to a label. Pick both to compare.")
    modes = [m for m in MODES if m in (modes or [])] or ["rank"]
    normalise = middle.radio("Label score", list(NORMALISATIONS),
                             format_func=NORMALISATIONS.get, key="pr_eval_normalise",
                             persist_state="session", help="Sum favours short labels; the per-token mean does not.")
    influence = right.toggle("Which shot helped", True, key="pr_eval_influence", persist_state="session",
                             help=f"Rank mode: score again without each of the {inputs.few_k} few-shot shots.")
    pairs = tuple((str(t), str(label)) for t, label in items[["text", "label"]].itertuples(index=False))
    return {mode: EvalRequest(
        inputs.instruction, tuple(examples), pairs, settings, inputs.few_k, ks, shuffles,
        inputs.fmt, seed, mode=mode, normalise=normalise, shot_influence=bool(influence),
    ) for mode in modes}


def _estimate_text(requests: dict) -> str:
    try:
        with st.spinner("Measuring this model's speed for a time estimate…"):
            estimates = [prompting_cache.get_evaluation_estimate(model_key(), r) for r in requests.values()]
    except ValueError as error:  # the same error shows when Evaluate is pressed
        return f"No estimate: {error}"
    parts = [f"{MODES[mode]} about {_duration(corrected)}"
             for mode, (_, corrected, _) in zip(requests, estimates)]
    measured = "the last finished evaluation" if any(seen for _, _, seen in estimates) else "a timed forward pass"
    return f"Estimated time: {', '.join(parts)} (from {measured} on this server; others' work adds waiting)."


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _start(model: core.LoadedModel, requests: dict) -> None:
    """Start every chosen mode's evaluation (each runs once, however many sessions ask)."""
    for request in requests.values():
        try:
            base, _, _ = prompting_cache.get_evaluation_estimate(model_key(), request)
        except ValueError as error:
            widgets.show_error(error)
            continue
        prompting_cache.start_prompt_evaluation(model, model_key(), request, base)


def _watch(requests: dict) -> None:
    """While an evaluation runs (started here or by another session), show its progress and a Stop button."""
    slots = {mode: prompting_cache.prompt_evaluation(model_key(), r) for mode, r in requests.items()}
    if not any(slot["running"] for slot in slots.values()):
        return
    stop = st.empty()  # cleared with the bars: a finished run shows no Stop button
    if stop.button("Stop", key="pr_stop", help="Stops after the current batch and shows what was scored so far."):
        for request in requests.values():
            prompting_cache.stop_prompt_evaluation(model_key(), request)
    bars = {mode: st.progress(0.0, text=MODES.get(mode, mode)) for mode in slots}
    while True:
        for mode, slot in slots.items():
            fraction, message = slot["progress"]
            bars[mode].progress(fraction, text=f"{MODES.get(mode, mode)}: {message}")
        if not any(slot["running"] for slot in slots.values()):
            break
        time.sleep(POLL_SECONDS)
    for placeholder in (stop, *bars.values()):
        placeholder.empty()


def show_results(results: dict[str, prompt_eval.Evaluation]) -> None:
    """Accuracy per strategy and mode, accuracy against k with its spread, then each mode's details."""
    loaded = st.session_state.get("pr_loaded_results")
    strategies = {MODES[m]: r.strategies for m, r in results.items() if not r.strategies.empty}
    curves = {MODES[m]: r.curve for m, r in results.items() if not r.curve.empty}
    if loaded:
        strategies[loaded["name"]] = pd.DataFrame(loaded["strategies"])
        curves[loaded["name"]] = pd.DataFrame(loaded["curve"])
    for mode, result in results.items():
        if result.partial:
            st.warning(f"{MODES[mode]} was stopped: these are partial results "
                       f"({len(result.predictions):,} predictions, the runs that finished).")
    if not strategies:
        return
    for mode, result in results.items():
        _metric_row(mode, result)
    left, right = st.columns(2)
    left.plotly_chart(accuracy_bars(strategies), key="pr_bars")
    right.plotly_chart(accuracy_vs_k(curves), key="pr_curve")
    if results:
        prompting_metrics_ui.explain_scores()
    if loaded and results:
        prompting_metrics_ui.versus_saved(next(iter(results.values())), loaded)
    tabs = st.tabs([MODES[m] for m in results]) if results else []
    for tab, (mode, result) in zip(tabs, results.items()):
        with tab:
            prompting_metrics_ui.mode_details(mode, result)


def _metric_row(mode: str, result: prompt_eval.Evaluation) -> None:
    if result.strategies.empty:
        return
    st.markdown(f"**{MODES[mode]}** · {len(result.predictions):,} predictions in "
                f"{result.seconds:.1f} s ({len(result.predictions) / max(result.seconds, 1e-6):.1f}/s)")
    cells = st.columns(len(result.strategies))
    base = float(result.strategies["accuracy"].iloc[0])
    for cell, row in zip(cells, result.strategies.itertuples()):
        delta = None if row.k == 0 else f"{row.accuracy - base:+.0%} vs zero-shot"
        cell.metric(row.strategy, f"{row.accuracy:.0%}", delta,
                    help=f"{row.correct} of {row.scored} right · macro-F1 {row.macro_f1:.2f}")


def experiment_files(inputs: TaskInputs, settings: core.GenerationSettings, request: EvalRequest,
                     result: prompt_eval.Evaluation | None) -> None:
    """Download the whole experiment as JSON, or load one back to rerun it or compare with it."""
    with st.expander("Save or load an experiment (JSON)"):
        records = None if result is None else eval_report.result_records(result)
        experiment = experiment_record(request, model_key(), inputs.preset, inputs.query, records)
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
    if loaded.get("mode") in MODES:  # experiments saved before scoring modes have none
        state["pr_eval_modes"] = [loaded["mode"]]
    if loaded.get("normalise") in NORMALISATIONS:
        state["pr_eval_normalise"] = loaded["normalise"]
    if loaded["items"]:
        state["pr_loaded_items"] = loaded["items"]
        state["pr_eval_source"] = "loaded"
    if loaded["results"]:
        state["pr_loaded_results"] = {"name": f"Loaded: {name}"[:60], **loaded["results"]}


def _restore_settings(state: MutableMapping, saved: dict) -> None:
    """Put saved generation settings back into the shared gen_ widgets, clamped to their ranges."""
    fields = {"temperature": TEMPERATURE, "top_p": TOP_P, "top_k": TOP_K, "seed": SEED,
              "max_new_tokens": LABEL_TOKENS}  # saved name: its widget's choice
    if isinstance(saved.get("do_sample"), bool):
        state[SAMPLE.key] = saved["do_sample"]
    for field, choice in fields.items():
        if isinstance(saved.get(field), int | float) and not isinstance(saved[field], bool):
            kind = int if choice.kind == "int" else float
            state[choice.key] = kind(min(max(saved[field], choice.low), choice.high))

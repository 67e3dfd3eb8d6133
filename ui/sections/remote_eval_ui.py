"""Prompt strategies evaluation through a served model: many requests at once, progress, cancel and resume."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import core
from core.prompting.eval_request import MODES, EvalRequest, served_api
from core.served import remote_eval
from ui import widgets
from ui.caching import served_cache
from ui.sections.prompting_eval_ui import run_choices, show_results
from ui.sections.prompting_ui import TaskInputs
from ui.sections.remote_ui import Backend

SERVED_MODES = ["generate", "rank"]  # generate first: every server can answer it


def _mode(backend: Backend, api: str) -> str:
    """Generate-and-match, or rank the labels when the server echoes prompt log-probabilities."""
    try:
        caps = served_cache.get_served_capabilities(backend.endpoint.cache_id, backend.model, backend.endpoint)
    except ValueError as error:
        widgets.show_error(error)
        return "generate"
    if api != "completions" or not caps.prompt_logprobs:
        reason = ("The chat API cannot echo a prompt, so labels cannot be ranked: answers are generated and "
                  "matched to the labels." if api != "completions" else caps.rank_reason(backend.endpoint.name))
        st.caption(reason)
        return "generate"
    return st.radio("Scoring", SERVED_MODES, format_func=MODES.get, horizontal=True,
                    key="srv_eval_mode", help=caps.rank_reason(backend.endpoint.name))


def served_evaluation(backend: Backend, inputs: TaskInputs, examples, items: pd.DataFrame,
                      settings: core.GenerationSettings) -> None:
    """Score every strategy over a labelled set through the server; partial results survive a cancel."""
    ks, shuffles, seed = run_choices(inputs, examples, "srv", 1, persist=False)
    mode = _mode(backend, served_api(inputs.fmt))
    pairs = tuple((str(t), str(label)) for t, label in items[["text", "label"]].itertuples(index=False))
    request = EvalRequest(inputs.instruction, tuple(examples), pairs, settings, inputs.few_k, ks, shuffles,
                          inputs.fmt, seed, mode)
    try:
        needed = len(remote_eval.plan(request)[3])
    except ValueError as error:
        widgets.show_error(error)
        return
    slot = served_cache.served_evaluation_slot(backend.endpoint.cache_id, backend.model, request)
    st.caption(f"{needed:,} requests, up to {backend.endpoint.concurrency} at once; failed ones are retried "
               "with backoff (429, 5xx, timeouts).")
    start, stop = st.columns([1, 4])
    label = "Resume" if slot["answers"] and slot["state"] != "done" else "Evaluate"
    run = start.button(label, key="srv_evaluate", type="primary")
    stop.button("Cancel", key="srv_cancel", help="Stops sending; answers so far are kept and scored.")
    if run:
        _run(backend, request, slot)
    if slot["answers"] or slot["state"] == "done":
        _show(request, slot)


def _run(backend: Backend, request: EvalRequest, slot: dict) -> None:
    bar = st.progress(0.0, text="Sending requests…")
    slot["state"], slot["error"] = "running", None
    try:
        outcome = remote_eval.evaluate(backend.endpoint, backend.model, request, slot["answers"],
                                       progress=lambda f, m: bar.progress(f, text=m))
    except ValueError as error:
        slot["state"], slot["error"] = "failed", str(error)
    except BaseException:
        slot["state"] = "stopped"  # the page was interrupted (Cancel, Stop, another click)
        raise
    else:
        slot["state"] = "done" if outcome.error is None and outcome.answered == outcome.requests else "failed"
        slot["error"] = outcome.error
    bar.empty()


def _show(request: EvalRequest, slot: dict) -> None:
    summary = remote_eval.summarize(request, slot["answers"])
    if slot["error"]:
        st.error(slot["error"], icon="🚫")
    if summary.answered < summary.requests:
        st.warning(f"Partial results: {summary.answered:,} of {summary.requests:,} requests answered, "
                   f"{summary.items_done} of {summary.items_total} items complete. Press Resume to send the rest.",
                   icon="⏸️")
    if summary.evaluation is not None:  # keyed by the mode its predictions were scored in
        show_results({summary.evaluation.mode: summary.evaluation})

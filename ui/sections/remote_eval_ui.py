"""Prompt strategies evaluation through a served model: many requests at once, progress, cancel and resume."""

from __future__ import annotations

import streamlit as st

import core
from core import prompting
from core.served import remote_eval
from ui import widgets
from ui.caching import served_cache
from ui.sections.prompting_eval_ui import labelled_items, show_results
from ui.sections.prompting_ui import TaskInputs
from ui.sections.remote_ui import Backend


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
    return st.radio("Scoring", list(remote_eval.MODES), format_func=remote_eval.MODES.get, horizontal=True,
                    key="srv_eval_mode", help=caps.rank_reason(backend.endpoint.name))


def evaluation_section(backend: Backend, inputs: TaskInputs, settings: core.GenerationSettings) -> None:
    """Score every strategy over a labelled set through the server; partial results survive a cancel."""
    items = labelled_items(inputs)
    try:
        examples = prompting.check_examples(inputs.examples)
    except ValueError as error:
        widgets.show_error(error)
        return
    if items is None:
        return
    api = "chat" if inputs.fmt == "chat" else "completions"
    left, middle, right = st.columns(3)
    default = [k for k in inputs.sweep if 0 <= k <= len(examples)] or [0, 1]
    ks = left.multiselect("Shot counts for the k chart", list(range(len(examples) + 1)), default=default,
                          key=f"srv_ks_{st.session_state.get('pr_task_version', 0)}")
    shuffles = middle.number_input("Example orders", 1, 5, 1, key="srv_shuffles")
    seed = right.number_input("Shuffle seed", 0, 10_000, 0, key="srv_shuffle_seed")
    mode = _mode(backend, api)
    pairs = tuple((str(t), str(label)) for t, label in items[["text", "label"]].itertuples(index=False))
    request = remote_eval.EvalRequest(inputs.instruction, tuple(examples), pairs, settings, inputs.few_k,
                                      tuple(sorted(ks)), int(shuffles), api, int(seed), mode)
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


def _run(backend: Backend, request: remote_eval.EvalRequest, slot: dict) -> None:
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


def _show(request: remote_eval.EvalRequest, slot: dict) -> None:
    summary = remote_eval.summarize(request, slot["answers"])
    if slot["error"]:
        st.error(slot["error"], icon="🚫")
    if summary.answered < summary.requests:
        st.warning(f"Partial results: {summary.answered:,} of {summary.requests:,} requests answered, "
                   f"{summary.items_done} of {summary.items_total} items complete. Press Resume to send the rest.",
                   icon="⏸️")
    if summary.evaluation is not None:  # keyed by the mode its predictions were scored in
        show_results({summary.evaluation.mode: summary.evaluation})

"""Streamlit caching of Prompt strategies: completions, evaluations (one worker per request), estimates."""

from __future__ import annotations

import threading
from collections.abc import Callable

import streamlit as st

import core
from ui.caching import cache
from ui.caching.single_flight import Flight

# --- Prompt strategies page ---


@st.cache_resource(show_spinner=False, max_entries=32)
def _strategy_slot(model_name: str, prompts: tuple[str, ...], settings: core.GenerationSettings) -> Flight:
    # Like the model slots: generation streams outside the cached function, into the first asking
    # page's columns; a session asking meanwhile waits for the same completions. Greedy and seeded
    # runs are deterministic, so one slot can serve every session.
    return Flight()


def get_strategy_completions(
    model_name: str, prompts: tuple[str, ...], settings: core.GenerationSettings,
    _on_step: Callable[[tuple[str, ...]], None] | None = None,
) -> list[core.Completion]:
    """Zero/one/few-shot completions as one batched run; _on_step sees the texts after each token.

    Only the session that runs the generation sees its steps; one asking meanwhile gets the result.
    """

    def generate() -> list[core.Completion]:
        completions: list[core.Completion] = []
        for step in core.stream_generate(cache.get_model(model_name), list(prompts), settings):
            if _on_step is not None:
                _on_step(step.texts)
            if step.completions is not None:
                completions = list(step.completions)
        return completions

    return _strategy_slot(model_name, prompts, settings).get(generate)


# --- Prompt strategies: evaluations (one worker per identical request, shared by every session) ---


@st.cache_resource(show_spinner=False, max_entries=8)
def _evaluation_slot(model_name: str, request) -> dict:
    # request: a prompt_eval.EvalRequest (frozen, plain values). The slot outlives script reruns, so
    # the evaluation runs in a worker thread: a Stop click (a rerun) cannot kill it half-way, a second
    # session asking for the same request finds it running and watches its progress, and it runs once.
    # Its flight keeps a complete result only: a stopped (partial) or failed run can be started again.
    return {"flight": Flight(keep=lambda result: result is not None and not result.partial),
            "stop": threading.Event(), "running": False, "progress": (0.0, "Starting…")}


def prompt_evaluation(model_name: str, request) -> dict:
    """The evaluation's shared state: running (bool), progress (fraction, message), result, error, failed.

    error is a message; failed says it is a crash (shown as an error), not bad input (a warning).
    """
    return _evaluation_slot(model_name, request)


def start_prompt_evaluation(model: core.LoadedModel, model_name: str, request, estimate: float) -> None:
    """Start the evaluation in a worker thread unless it is running or has a complete result.

    estimate: the uncorrected estimate in seconds; the finished run's real time corrects later ones.
    """
    slot = _evaluation_slot(model_name, request)

    def prepare() -> None:  # under the flight's lock: a watching page sees "running" before the worker starts
        slot.update(running=True, progress=(0.0, "Starting…"), error=None, failed=False)
        slot["stop"].clear()

    # two sessions pressing Evaluate at once start one worker; a complete result is never recomputed
    slot["flight"].start(lambda: _run_evaluation(model, model_name, request, slot, estimate), prepare,
                         settled=lambda: slot.update(running=False))  # "not running": Evaluate starts a new run


def stop_prompt_evaluation(model_name: str, request) -> None:
    """Ask the running evaluation to stop after its current batch (it keeps what it scored)."""
    _evaluation_slot(model_name, request)["stop"].set()


def _run_evaluation(model: core.LoadedModel, model_name: str, request, slot: dict, estimate: float):
    """The worker: the evaluation's result (also in slot["result"]), or None with slot["error"] set.

    Its flight clears slot["running"] once the run is over; on failure an earlier partial result stays.
    """
    from core.prompting import prompt_eval

    def progress(fraction: float, message: str) -> None:
        slot["progress"] = (min(max(fraction, 0.0), 1.0), message)

    def waits(ahead: int) -> None:
        if ahead:
            slot["progress"] = (slot["progress"][0], f"Waiting for the model: {ahead} computation(s) ahead")

    try:
        with core.runtime.gate.report_waits_to(waits):
            result = prompt_eval.evaluate(model, request, progress, slot["stop"].is_set)
        slot["result"] = result
        if not result.partial:  # measured / estimated: corrects the next estimate of this kind
            key = (model_name, request.mode, request.prefix_cache)
            _speed_corrections()[key] = result.seconds / max(estimate, 1e-6)
        return result
    except Exception as error:  # noqa: BLE001 - the worker's only reader is the page: every failure becomes its message
        slot["error"], slot["failed"] = evaluation_failure(error), not isinstance(error, ValueError)
        return None


def evaluation_failure(error: Exception) -> str:
    """The page's message for an evaluation that raised: bad input as core worded it, else its kind and advice."""
    import torch  # local, like the other core imports here: torch.OutOfMemoryError is a RuntimeError

    if isinstance(error, ValueError):
        return str(error)
    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        return (f"The evaluation ran out of memory ({type(error).__name__}). Try again with a smaller labelled set, "
                "fewer shots or fewer example orders.")
    return f"The evaluation failed: {type(error).__name__}: {error}"


@st.cache_resource(show_spinner=False, max_entries=3)
def get_throughput(model_name: str):
    """One timed forward and decoding step of this model (about a second), the base of time estimates."""
    from core.prompting import prefix_generation

    return prefix_generation.measure_throughput(cache.get_model(model_name))


@st.cache_resource(show_spinner=False)
def _speed_corrections() -> dict:
    # (model, mode, prefix cache) -> measured seconds / estimated seconds of the last finished run.
    return {}


@st.cache_data(show_spinner=False, max_entries=32)
def get_base_estimate(model_name: str, request) -> float:
    """Seconds the evaluation takes at the measured throughput (tokenizes every prompt: cached)."""
    from core.prompting import prompt_eval

    return prompt_eval.estimate_seconds(cache.get_model(model_name), request, get_throughput(model_name))


def get_evaluation_estimate(model_name: str, request) -> tuple[float, float, bool]:
    """(base seconds, corrected seconds, whether a finished evaluation of this kind corrected it)."""
    base = get_base_estimate(model_name, request)
    correction = _speed_corrections().get((model_name, request.mode, request.prefix_cache))
    return base, base * (correction or 1.0), correction is not None


@st.cache_resource(show_spinner=False, max_entries=32)
def get_query_label_scores(model_name: str, prompts: tuple[str, ...], labels: tuple[str, ...], fmt: str):
    """The labels ranked after each of the three strategy prompts (one small batched forward per prompt)."""
    from core.prompting import label_scoring

    model = cache.get_model(model_name)
    delimiter = " " if fmt == "plain" else ""
    return [label_scoring.score_labels(model, "", [prompt], labels, delimiter) for prompt in prompts]

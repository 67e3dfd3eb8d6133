"""Streamlit caches of core/ calls, keyed by plain values: model slots, the byte budget, most pages.

The ui/*cache*.py modules are the only places where Streamlit caches wrap core calls; besides this
one: ui/caching/tokens_cache.py (Tokens page), ui/caching/embeddings_cache.py (Embeddings page), ui/caching/why_cache.py
("Why this token?") and ui/caching/served_cache.py (served models).
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
from collections.abc import Callable, Iterator

import pandas as pd
import streamlit as st

import core
from core import attention_stats, lens, prediction, result_budget
from core.analysis import MAX_ANALYZE_TOKENS
from ui.caching.single_flight import Flight
from viz import attention as attention_viz
from viz import bertviz_offline

# --- One byte budget for the big per-prompt results (LLM_LENS_CACHE_MB) ---------------------
# Attention is layer × head × pos² floats (283 MB for one 512-token SmolLM2 prompt), so counting
# entries bounds nothing: these results share one budget measured in bytes of their arrays.
DEFAULT_CACHE_MB = 4096  # a 24 GB machine: ~1 GB model, ~2 GB for 30 sessions and a forward pass, ample slack


def cache_budget_mb() -> int:
    """LLM_LENS_CACHE_MB as a whole number of megabytes (default DEFAULT_CACHE_MB)."""
    wanted = os.environ.get("LLM_LENS_CACHE_MB", "").strip()
    if not wanted:
        return DEFAULT_CACHE_MB
    if not wanted.isdigit() or int(wanted) < 1:
        raise ValueError(f"LLM_LENS_CACHE_MB={wanted!r} must be a whole number of megabytes, such as 4096.")
    return int(wanted)


RESULTS = result_budget.ByteBudgetCache(cache_budget_mb() * 2**20)


def by_bytes(func: Callable) -> Callable:
    """Cache func's results (keyed by its plain-valued arguments) in the shared byte budget.

    Like st.cache_resource, two sessions asking for the same key at once share one computation;
    unlike it, the bound is in bytes, so 2 long prompts weigh as much as 200 short ones.
    `cached.key(*args)` is an entry's key; `cached.clear(*args)` forgets it (every entry of func
    when called without arguments), like st.cache_resource's clear.
    """
    signature = inspect.signature(func)

    def key(*args, **kwargs) -> tuple:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()  # get_x(a) and get_x(a, default) are one entry
        return (func.__name__, *bound.arguments.values())

    def clear(*args, **kwargs) -> None:
        wanted = key(*args, **kwargs) if args or kwargs else None
        RESULTS.discard(lambda k: k == wanted if wanted else k[0] == func.__name__)

    @functools.wraps(func)
    def cached(*args, **kwargs):
        return RESULTS.get(key(*args, **kwargs), lambda: func(*args, **kwargs))

    cached.key, cached.clear = key, clear
    return cached


# --- Model slots -----------------------------------------------------------------------------
# A per-name single flight (ui/caching/single_flight.py), so loading runs outside the cached function and can
# drive a progress bar the page owns (cached functions may not update elements created outside them).
# The bundled models and the default are pinned: a typo or a stranger's folder can never evict them.
# Other names share two slots, and only after check_model_name accepted them; a load that fails gives
# its slot back.
OTHER_MODEL_SLOTS = 2


@st.cache_resource(show_spinner=False)  # unbounded, but only bundled names and the default get here
def _pinned_slot(name: str) -> Flight:
    return Flight()


@st.cache_resource(show_spinner=False, max_entries=OTHER_MODEL_SLOTS)
def _other_slot(name: str) -> Flight:
    return Flight()


def is_pinned(name: str) -> bool:
    """Bundled models and the server's default model keep their slot for the life of the process."""
    return name in core.models.BUNDLED or name == (os.environ.get("LLM_LENS_MODEL") or core.models.DEFAULT_MODEL)


def get_model(name: str, _progress: Callable[[float, str], None] | None = None) -> core.LoadedModel:
    """The loaded model, loaded once per process and shared read-only by every session."""
    core.models.check_model_name(name)  # a typo or a refused name fails here, before taking a slot
    pinned = is_pinned(name)
    slot = _pinned_slot(name) if pinned else _other_slot(name)
    return slot.get(lambda: _load(name, pinned, _progress))  # two sessions asking at once load it once


def _load(name: str, pinned: bool, progress: Callable[[float, str], None] | None) -> core.LoadedModel:
    try:
        return core.load_model(name, progress=progress)
    except Exception:
        if not pinned:
            _other_slot.clear(name)  # a failed load holds no slot, so it evicts no other model
        raise


@st.cache_resource(show_spinner=False, max_entries=32)
def get_tokens(model_name: str, text: str, add_special_tokens: bool = True) -> core.Tokenization:
    """Tokenization of text (cache_resource: results are frozen, so sharing them is safe)."""
    return core.tokenize(get_model(model_name), text, add_special_tokens=add_special_tokens)


@by_bytes
def get_analysis(model_name: str, text: str, max_tokens: int = MAX_ANALYZE_TOKENS) -> core.Analysis:
    """One forward pass with attention and hidden states; large, so few entries are kept."""
    return core.analyze(get_model(model_name), text, max_tokens=max_tokens)


# --- Attention page -------------------------------------------------------------------------


@by_bytes  # up to 283 MB each at 512 tokens
def get_attention_view(model_name: str, text: str, hide_first: bool, combine: str) -> attention_stats.AttentionView:
    """Attention after the page toggles (hide first token, average, rollout); frozen, so shared."""
    return attention_stats.attention_view(get_analysis(model_name, text).attention, hide_first, combine)


# Figures built from cached data, cached too (keyed by the same plain values): a class on one
# prompt builds each figure once, not once per session. st.plotly_chart only reads a figure.
@st.cache_resource(show_spinner=False, max_entries=64)
def get_head_heatmap(model_name: str, text: str, hide_first: bool, combine: str, layer: int, head: int) -> object:
    """The one-head heatmap of the attention page (a plotly figure, read-only once built)."""
    view = get_attention_view(model_name, text, hide_first, combine)
    labels = get_analysis(model_name, text).tokens.labels[view.first_position:]
    title = f"Layer {view.layer_labels[layer]}, head {view.head_labels[head]}"
    return attention_viz.attention_heatmap(view.weights[layer, head], labels, title, view.first_position)


@st.cache_resource(show_spinner=False, max_entries=32)
def get_layer_grid(model_name: str, text: str, hide_first: bool, combine: str, layer: int) -> object:
    """Every head of one layer side by side (a plotly figure)."""
    view = get_attention_view(model_name, text, hide_first, combine)
    labels = get_analysis(model_name, text).tokens.labels[view.first_position:]
    return attention_viz.head_grid(view.weights[layer], labels, view.head_labels, f"Layer {view.layer_labels[layer]}",
                                   view.first_position)


@st.cache_resource(show_spinner=False, max_entries=16)
def get_overview(model_name: str, text: str, hide_first: bool, combine: str) -> object:
    """Every layer × head as thumbnails (a plotly figure)."""
    view = get_attention_view(model_name, text, hide_first, combine)
    return attention_viz.layers_heads_overview(view.weights, view.layer_labels, view.head_labels)


@st.cache_data(show_spinner=False, max_entries=16)
def get_head_summary(model_name: str, text: str, hide_first: bool) -> pd.DataFrame:
    """Per-head entropy, first-token weight, previous-token score, mean distance and induction score."""
    view = get_attention_view(model_name, text, hide_first, "none")
    ids = get_analysis(model_name, text).tokens.ids[view.first_position:]  # the view's positions
    return attention_stats.head_summary(view.weights, ids)


@by_bytes
def get_answered_attention(model_name: str, prompt: str, new_tokens: int) -> attention_stats.AnsweredAttention:
    """A short greedy answer, then one forward pass over prompt plus answer."""
    return attention_stats.analyze_with_answer(get_model(model_name), prompt, new_tokens)


@by_bytes
def get_bertviz_analysis(model_name: str, text: str) -> core.Analysis:
    """Analysis of the start of text that fits bertviz's token cap (the whole text when short)."""
    if len(get_tokens(model_name, text)) <= bertviz_offline.MAX_TOKENS:
        return get_analysis(model_name, text)
    return attention_stats.analyze_prefix(get_model(model_name), text, bertviz_offline.MAX_TOKENS)


@st.cache_resource(show_spinner=False, max_entries=8)
def get_bertviz_html(model_name: str, text: str, view: str, layers: tuple[int, ...]) -> str:
    """bertviz HTML built once per input: each build has a fresh random id, which reloads the frame."""
    analysis = get_bertviz_analysis(model_name, text)
    return bertviz_offline.bertviz_html(view, analysis.attention, analysis.tokens.labels, layers)


@by_bytes  # measured by what the run holds: its KV cache and tokens while paused, its completions once done
def get_generation_stream(
    model_name: str, prompts: tuple[str, ...], settings: core.GenerationSettings
) -> prediction.RecordedStream:
    """A batched generation run that remembers its progress: the first reader streams, reruns replay."""
    return prediction.RecordedStream(core.stream_generate(get_model(model_name), list(prompts), settings))


def stream_generation(
    model_name: str, prompts: tuple[str, ...], settings: core.GenerationSettings
) -> Iterator[core.generation.GenerationStep]:
    """The cached generation run's steps; a run that failed is dropped, so the next rerun recomputes.

    A stream grows by one token of KV cache per row and step, so its entry is measured again after
    every step: the byte budget evicts the oldest results (or paused streams) to make room.
    """
    stream = get_generation_stream(model_name, prompts, settings)
    key = get_generation_stream.key(model_name, prompts, settings)
    try:
        for step in stream:
            RESULTS.remeasure(key)
            yield step
    finally:
        if stream.failed:
            get_generation_stream.clear(model_name, prompts, settings)
        else:
            RESULTS.remeasure(key)  # paused or finished: what it holds now (finished: no KV cache)


@by_bytes
def get_step_prediction(model_name: str, prompt: str, chosen_ids: tuple[int, ...]) -> prediction.StepPrediction:
    """Next-token logits after the prompt plus the tokens chosen so far (one forward pass)."""
    return prediction.predict_step(get_model(model_name), prompt, chosen_ids)


@by_bytes
def get_logit_lens(model_name: str, text: str) -> lens.LogitLens:
    """Every layer's would-be prediction for the last positions of text, from its cached analysis."""
    return lens.logit_lens(get_model(model_name), get_analysis(model_name, text))


# --- Model and lifecycle pages (RNN vs Transformer, Model size, Lifecycle) ---


@st.cache_resource(show_spinner=False, max_entries=16)
def get_rnn_comparison(model_name: str, text: str, embedding: str, hidden: int, seed: int):
    """RNN, GRU and self-attention on the text's tokens: steps, path length, gradient per token."""
    from core import rnn_compare

    return rnn_compare.compare(get_model(model_name), text, embedding=embedding, hidden=hidden, seed=seed)


@st.cache_resource(show_spinner=False, max_entries=4)
def get_anatomy(model_name: str):
    """Parameters by component and block matrix shapes of the loaded model."""
    from core import anatomy

    return anatomy.anatomy(get_model(model_name))


@st.cache_resource(show_spinner=False, max_entries=2)
def _quantization_slot(model_name: str) -> Flight:
    # Like the model slots: the measurement runs outside the cached function so it can drive the
    # page's progress bar; two sessions asking at once measure only once.
    return Flight()


def get_quantization(model_name: str, _progress: Callable[[float, str], None] | None = None):
    """Float vs dynamic-int8 copy of the model: size, speed, agreement (slow: measured once per model)."""
    from core import quantize

    return _quantization_slot(model_name).get(
        lambda: quantize.quantize_dynamic_int8(get_model(model_name), progress=_progress))


def has_quantization(model_name: str) -> bool:
    """Whether the int8 comparison for this model was already measured (so no progress is needed)."""
    return _quantization_slot(model_name).done


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
        for step in core.stream_generate(get_model(model_name), list(prompts), settings):
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

    return prefix_generation.measure_throughput(get_model(model_name))


@st.cache_resource(show_spinner=False)
def _speed_corrections() -> dict:
    # (model, mode, prefix cache) -> measured seconds / estimated seconds of the last finished run.
    return {}


@st.cache_data(show_spinner=False, max_entries=32)
def get_base_estimate(model_name: str, request) -> float:
    """Seconds the evaluation takes at the measured throughput (tokenizes every prompt: cached)."""
    from core.prompting import prompt_eval

    return prompt_eval.estimate_seconds(get_model(model_name), request, get_throughput(model_name))


def get_evaluation_estimate(model_name: str, request) -> tuple[float, float, bool]:
    """(base seconds, corrected seconds, whether a finished evaluation of this kind corrected it)."""
    base = get_base_estimate(model_name, request)
    correction = _speed_corrections().get((model_name, request.mode, request.prefix_cache))
    return base, base * (correction or 1.0), correction is not None


@st.cache_resource(show_spinner=False, max_entries=32)
def get_query_label_scores(model_name: str, prompts: tuple[str, ...], labels: tuple[str, ...], fmt: str):
    """The labels ranked after each of the three strategy prompts (one small batched forward per prompt)."""
    from core.prompting import label_scoring

    model = get_model(model_name)
    delimiter = " " if fmt == "plain" else ""
    return [label_scoring.score_labels(model, "", [prompt], labels, delimiter) for prompt in prompts]

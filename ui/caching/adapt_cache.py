"""The Adapt page's shared state: one fine-tuning job per session (a worker thread), the server-wide queue, caches.

A job runs in a worker thread and lives in a process-wide store keyed by browser session, so a rerun
(the Stop click) never kills it. While it lives, a job's adapter and optimiser state hold their bytes
in the app's memory budget (LLM_LENS_CACHE_MB, a pin in ui.caching.cache.RESULTS: cached results make
room, the pin is never evicted). The store frees them when its session asks for another job,
switches model, or is gone (checked whenever a job starts).
"""

from __future__ import annotations

import os
import threading

import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

import core
from core import prompting
from core.adapt import compare, data, export, lora, steering
from ui.caching.cache import RESULTS, get_model

DEFAULT_TRAININGS = 1  # LLM_LENS_MAX_TRAININGS: fine-tuning runs at once on this server


@st.cache_resource(show_spinner=False)
def training_queue():
    """The server-wide queue: at most LLM_LENS_MAX_TRAININGS runs at once (default 1)."""
    from core.adapt.queue import TrainingQueue

    wanted = os.environ.get("LLM_LENS_MAX_TRAININGS", "")
    return TrainingQueue(int(wanted) if wanted.isdigit() and int(wanted) > 0 else DEFAULT_TRAININGS)


@st.cache_resource(show_spinner=False)
def _jobs() -> dict:
    return {"lock": threading.Lock(), "by_session": {}}


def _session() -> str:
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"


def session_job(model_name: str) -> dict | None:
    """This session's job on model_name; a job on another model is stopped and freed (the model changed)."""
    store = _jobs()
    with store["lock"]:
        job = store["by_session"].get(_session())
        if job is not None and job["model_name"] != model_name:
            _drop(store["by_session"].pop(_session()))
            return None
    return job


def start_training(model: core.LoadedModel, model_name: str, split: data.Split, instruction: str,
                   settings: lora.LoraSettings, few_k: int) -> None:
    """Start this session's fine-tuning in a worker (queued server-wide); any earlier job is freed."""
    store = _jobs()
    job = {"model_name": model_name, "budget_key": ("adapter", _session(), model_name), "settings": settings,
           "split": split, "instruction": instruction,
           "few_k": few_k, "stop": threading.Event(), "running": True, "status": "Queued", "run": None,
           "progress": None, "error": None, "bought": None, "forgetting": None,
           "done": threading.Event()}
    with store["lock"]:
        if (old := store["by_session"].get(_session())) is not None and old["running"]:
            return
        _forget_gone_sessions(store["by_session"])
        if old is not None:
            _drop(old)
        store["by_session"][_session()] = job
    threading.Thread(target=_train, args=(model, job), daemon=True).start()


def stop_training(model_name: str) -> None:
    """Ask this session's job to stop after its current step (the adapter trained so far is kept)."""
    if (job := session_job(model_name)) is not None:
        job["stop"].set()


def _drop(job: dict) -> None:
    job["dropped"] = True
    job["stop"].set()
    if not job["running"]:
        _free(job)  # a running worker frees nothing here: it ends at its next step and is dropped


def _free(job: dict) -> None:
    """Free the job's adapter and optimiser state and give their bytes back to the budget."""
    if job["run"] is not None:
        job["run"].free()
        job["run"] = None
    RESULTS.unpin(job["budget_key"])


def _forget_gone_sessions(jobs: dict) -> None:
    from streamlit import runtime

    if not runtime.exists():
        return
    for session in [s for s in jobs if not runtime.get_instance().is_active_session(s)]:
        _drop(jobs.pop(session))


def _train(model: core.LoadedModel, job: dict) -> None:
    def place(ahead: int) -> None:
        job["status"] = f"Queued: {ahead} fine-tuning run(s) ahead of yours on this server"

    try:
        with training_queue().turn(place, job["stop"].is_set) as admitted:
            if not admitted:
                job["status"] = "Stopped before it started"
                return
            job["status"] = "Preparing the adapter"
            run = lora.LoraRun(model, job["split"], job["instruction"], job["settings"])
            RESULTS.pin(job["budget_key"], run.held_bytes(), "This fine-tuning run's adapter and optimiser state")
            job["run"] = run
            job["progress"] = job["run"].progress
            job["status"] = "Training"
            waiting = lambda ahead: job.update(status=f"Waiting for the model: {ahead} ahead")  # noqa: E731
            with core.runtime.gate.report_waits_to(waiting):
                job["run"].run(job["stop"].is_set, lambda progress: job.update(status="Training"))
            if job.get("dropped"):  # its session left or switched model: nobody will read the results
                _free(job)
                return
            job["status"] = "Scoring the held-out set (base and adapted, zero- and few-shot)"
            try:
                _what_it_bought(model, job)
            except ValueError as error:  # e.g. a few-shot prompt past a small model's context: the adapter stays
                job["bought_error"] = str(error)
            job["status"] = "Stopped: the adapter keeps the steps done" if job["progress"].stopped else "Done"
    except ValueError as error:  # TrainingDiverged and a full memory budget included
        job["error"], job["status"] = str(error), "Failed"
        _free(job)
    except (RuntimeError, MemoryError) as error:  # out of memory, a torch failure: a message, never a blank page
        job["error"], job["status"] = f"Fine-tuning failed: {type(error).__name__}: {error}", "Failed"
        _free(job)
    finally:
        job["running"] = False
        job["done"].set()


def _what_it_bought(model: core.LoadedModel, job: dict) -> None:
    run = job["run"]
    adapted = lora.adapted(model, run.peft_model)
    k = job["few_k"]
    ways = [compare.Way("base zero-shot", model, 0), compare.Way(f"base few-shot (k={k})", model, k),
            compare.Way("fine-tuned zero-shot", adapted, 0), compare.Way(f"fine-tuned few-shot (k={k})", adapted, k)]
    job["bought"] = compare.score_ways(ways, job["instruction"], job["split"], k)
    job["forgetting"] = compare.forgetting(model, adapted)
    job["deltas"] = compare.delta_norms(run.peft_model)
    text, label = job["split"].heldout[0]
    prompt = prompting.build_prompt(job["instruction"], [], text, "plain", model.tokenizer)
    job["lens"] = (text, label, compare.lens_before_after(model, adapted, prompt, label))
    job["attention"] = compare.attention_change(model, adapted, prompt)


def adapter_zip(model_name: str) -> bytes | None:
    """This session's adapter as a PEFT folder zip (None without a finished job)."""
    job = session_job(model_name)
    if job is None or job["running"] or job["run"] is None or job["run"].peft_model is None:
        return None
    return export.adapter_zip(get_model(model_name), job["run"].peft_model)


def adapted_model(model_name: str) -> core.LoadedModel | None:
    """This session's fine-tuned model (None while training or without one)."""
    job = session_job(model_name)
    if job is None or job["running"] or job["run"] is None or job["run"].peft_model is None:
        return None
    return lora.adapted(get_model(model_name), job["run"].peft_model)


# --- Steering: plain values in, frozen results out, shared by every session ---


@st.cache_resource(show_spinner=False, max_entries=16)
def get_steering_vector(model_name: str, layer: int, positive: tuple[str, ...],
                        negative: tuple[str, ...]) -> steering.SteeringVector:
    """The contrastive steering vector at a layer (frozen: shared)."""
    return steering.steering_vector(get_model(model_name), layer, positive, negative)


@st.cache_data(show_spinner=False, max_entries=32)
def get_steered_texts(model_name: str, layer: int, positive: tuple[str, ...], negative: tuple[str, ...],
                      prompt: str, alpha: float, settings: core.GenerationSettings) -> tuple[str, str]:
    """(plain completion, steered completion) of the prompt with the same settings (and seed)."""
    model = get_model(model_name)
    vector = get_steering_vector(model_name, layer, positive, negative)
    plain = core.generate(model, [prompt], settings)[0].text
    return plain, steering.steered_generate(model, [prompt], settings, vector, alpha)[0].text


@st.cache_data(show_spinner=False, max_entries=16)
def get_sweep(model_name: str, layer: int, positive: tuple[str, ...], negative: tuple[str, ...],
              alphas: tuple[float, ...]) -> pd.DataFrame:
    """P(positive) and fluency of steered text on neutral prompts, per α."""
    vector = get_steering_vector(model_name, layer, positive, negative)
    return steering.alpha_sweep(get_model(model_name), vector, alphas)

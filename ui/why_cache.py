"""Streamlit caches of the "Why this token?" page, keyed by token ids and plain values."""

from __future__ import annotations

import threading
from collections.abc import Callable

import streamlit as st

from ui.cache import get_model

# Keyed by token ids (plain tuples): a target inside the model's own answer has a context that is
# the prompt's ids plus the answer's, which re-tokenising text would not always reproduce.


@st.cache_data(show_spinner=False, max_entries=64)
def get_why_ids(model_name: str, text: str) -> tuple[int, ...]:
    """Prompt token ids within the Why page's cap (ValueError names the limit)."""
    from core import interventions

    return interventions.prompt_ids(get_model(model_name), text)


@st.cache_data(show_spinner=False, max_entries=64)
def get_why_logits(model_name: str, ids: tuple[int, ...]) -> object:
    """(vocab,) next-token logits after ids."""
    from core import targets

    return targets.next_token_logits(get_model(model_name), ids)


@st.cache_data(show_spinner=False, max_entries=16)
def get_why_answer(model_name: str, text: str, new_tokens: int) -> tuple[int, ...]:
    """The model's greedy answer to text, as token ids."""
    from core import targets

    return targets.answer_ids(get_model(model_name), text, new_tokens)


@st.cache_resource(show_spinner=False, max_entries=16)
def get_input_attribution(model_name: str, ids: tuple[int, ...], target: int, contrast: int | None, steps: int,
                          kind: str = "logprob"):
    """Integrated gradients (from `steps` steps, doubled until complete or capped) and gradient × input."""
    from core import attribution

    return attribution.attribute_converged(get_model(model_name), ids, target, contrast, steps, kind=kind)


@st.cache_resource(show_spinner=False, max_entries=16)
def get_logit_attribution(model_name: str, ids: tuple[int, ...], target: int, contrast: int | None):
    """Direct logit attribution over layers, components and heads."""
    from core import logit_attribution

    return logit_attribution.logit_attribution(get_model(model_name), ids, target, contrast)


@st.cache_resource(show_spinner=False, max_entries=32)
def get_ablation(model_name: str, ids: tuple[int, ...], heads: tuple[tuple[int, int], ...], mode: str):
    """Next-token distribution before and after ablating the heads."""
    from core import interventions

    return interventions.ablate_heads(get_model(model_name), ids, heads, mode)


@st.cache_resource(show_spinner=False, max_entries=16)
def get_induction(model_name: str, n: int, seed: int):
    """Induction scores and loss on a seeded repeated random sequence."""
    from core import induction

    return induction.induction(get_model(model_name), n, seed)


@st.cache_resource(show_spinner=False, max_entries=16)
def _why_slot(kind: str, model_name: str, key: tuple) -> dict:
    # Like the model slots (ui/cache.py): long scans run outside the cached function so they can drive the page's
    # progress bar; the lock makes two sessions asking for the same scan compute it once.
    return {"lock": threading.Lock()}


def has_why_result(kind: str, model_name: str, key: tuple) -> bool:
    """Whether this scan already ran (then it shows without pressing its button)."""
    return "result" in _why_slot(kind, model_name, key)


def get_why_scan(kind: str, model_name: str, key: tuple, _progress: Callable[[float, str], None] | None = None):
    """A long "Why" computation, once per input: kind is "heads", "patch" or "loss"; key its arguments."""
    from core import induction, interventions, patching

    slot = _why_slot(kind, model_name, key)
    with slot["lock"]:
        if "result" not in slot:
            model = get_model(model_name)
            if kind == "heads":  # key = (ids, target, mode)
                slot["result"] = interventions.scan_heads(model, *key, progress=_progress)
            elif kind == "patch":  # key = (clean, corrupt, per_head)
                slot["result"] = patching.patch(model, *key, progress=_progress)
            else:  # "loss": key = (n, seed)
                ids = get_induction(model_name, *key).ids
                slot["result"] = induction.loss_drop_scan(model, ids, key[0], progress=_progress)
    return slot["result"]

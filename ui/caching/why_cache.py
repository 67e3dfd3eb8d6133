"""Streamlit caches of the "Why this token?" page, keyed by token ids and plain values."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from ui.caching.cache import get_model
from ui.caching.single_flight import Flight

# Keyed by token ids (plain tuples): a target inside the model's own answer has a context that is
# the prompt's ids plus the answer's, which re-tokenising text would not always reproduce.


@st.cache_data(show_spinner=False, max_entries=64)
def get_why_ids(model_name: str, text: str) -> tuple[int, ...]:
    """Prompt token ids within the Why page's cap (ValueError names the limit)."""
    from core.why import interventions

    return interventions.prompt_ids(get_model(model_name), text)


@st.cache_data(show_spinner=False, max_entries=64)
def get_why_logits(model_name: str, ids: tuple[int, ...]) -> object:
    """(vocab,) next-token logits after ids."""
    from core.why import targets

    return targets.next_token_logits(get_model(model_name), ids)


@st.cache_data(show_spinner=False, max_entries=16)
def get_why_answer(model_name: str, text: str, new_tokens: int) -> tuple[int, ...]:
    """The model's greedy answer to text, as token ids."""
    from core.why import targets

    return targets.answer_ids(get_model(model_name), text, new_tokens)


@st.cache_resource(show_spinner=False, max_entries=16)
def get_input_attribution(model_name: str, ids: tuple[int, ...], target: int, contrast: int | None, steps: int,
                          kind: str = "logprob"):
    """Integrated gradients (from `steps` steps, doubled until complete or capped) and gradient × input."""
    from core.why import attribution

    return attribution.attribute_converged(get_model(model_name), ids, target, contrast, steps, kind=kind)


@st.cache_resource(show_spinner=False, max_entries=16)
def get_logit_attribution(model_name: str, ids: tuple[int, ...], target: int, contrast: int | None):
    """Direct logit attribution over layers, components and heads."""
    from core.why import logit_attribution

    return logit_attribution.logit_attribution(get_model(model_name), ids, target, contrast)


@st.cache_resource(show_spinner=False, max_entries=32)
def get_ablation(model_name: str, ids: tuple[int, ...], heads: tuple[tuple[int, int], ...], mode: str):
    """Next-token distribution before and after ablating the heads."""
    from core.why import interventions

    return interventions.ablate_heads(get_model(model_name), ids, heads, mode)


@st.cache_resource(show_spinner=False, max_entries=16)
def get_induction(model_name: str, n: int, seed: int):
    """Induction scores and loss on a seeded repeated random sequence."""
    from core.why import induction

    return induction.induction(get_model(model_name), n, seed)


@st.cache_resource(show_spinner=False, max_entries=16)
def _why_slot(kind: str, model_name: str, key: tuple) -> Flight:
    # Like the model slots (ui/caching/cache.py): long scans run outside the cached function so they can drive
    # the page's progress bar; two sessions asking for the same scan compute it once.
    return Flight()


def has_why_result(kind: str, model_name: str, key: tuple) -> bool:
    """Whether this scan already ran (then it shows without pressing its button)."""
    return _why_slot(kind, model_name, key).done


def get_why_scan(kind: str, model_name: str, key: tuple, _progress: Callable[[float, str], None] | None = None):
    """A long "Why" computation, once per input: kind is "heads", "patch" or "loss"; key its arguments."""
    return _why_slot(kind, model_name, key).get(lambda: _scan(kind, model_name, key, _progress))


def _scan(kind: str, model_name: str, key: tuple, progress: Callable[[float, str], None] | None):
    from core.why import induction, interventions, patching

    model = get_model(model_name)
    if kind == "heads":  # key = (ids, target, mode)
        return interventions.scan_heads(model, *key, progress=progress)
    if kind == "patch":  # key = (clean, corrupt, per_head)
        return patching.patch(model, *key, progress=progress)
    ids = get_induction(model_name, *key).ids  # "loss": key = (n, seed)
    return induction.loss_drop_scan(model, ids, key[0], progress=progress)

"""Streamlit caches of served models (OpenAI-compatible endpoints), keyed by Endpoint.cache_id, never by the key."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from ui.caching.single_flight import Flight


@st.cache_data(show_spinner=False, ttl=60, max_entries=32)
def get_served_models(endpoint_id: str, _endpoint) -> tuple[str, ...]:
    """Model ids an endpoint lists (re-asked after a minute: servers load and unload models)."""
    from core.served import remote

    return remote.list_models(_endpoint)


@st.cache_data(show_spinner=False, ttl=600, max_entries=32)
def get_served_capabilities(endpoint_id: str, model: str, _endpoint):
    """Whether the served model returns token and prompt log-probabilities (one probe request)."""
    from core.served import remote, remote_calls

    try:
        return remote_calls.probe(remote.client(_endpoint), model)
    except Exception as error:
        raise remote.explain(error, _endpoint, "a capability probe") from None


@st.cache_data(show_spinner=False, ttl=60, max_entries=32)
def get_adapter_mismatch(endpoint_id: str, model: str, _endpoint) -> str | None:
    """Why a served LoRA adapter does not fit the base model it is served on, or None (see core.served.served_lora)."""
    from core.served import served_lora

    return served_lora.adapter_mismatch(_endpoint, model)


@st.cache_resource(show_spinner=False, max_entries=32)
def _served_slot(endpoint_id: str, model: str, requests: tuple) -> Flight:
    # Like _strategy_slot (ui/caching/cache.py): the streams run outside the cached function, into the page's columns.
    return Flight()


def get_served_completions(endpoint_id: str, model: str, requests: tuple, _endpoint,
                           _on_update: Callable[[tuple[str, ...]], None]) -> list:
    """Completions of (prompt, settings, row) requests, streamed side by side; kept once all succeed."""
    from core.served import remote_eval

    return _served_slot(endpoint_id, model, requests).get(
        lambda: remote_eval.compare(_endpoint, model, list(requests), _on_update))


@st.cache_resource(show_spinner=False, max_entries=8)
def served_evaluation_slot(endpoint_id: str, model: str, request) -> dict:
    """Answers of a served evaluation, kept across reruns, cancels and failures (so a rerun resumes)."""
    return {"answers": {}, "state": "idle", "error": None}

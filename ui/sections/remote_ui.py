"""Served-model backend: the sidebar choice, the weights notice, the Generation page's completions via a server."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import streamlit as st

import core
from core.served import remote
from core.served.remote import Endpoint
from ui import widgets
from ui.caching import served_cache
from viz.prompting import completion_tokens_html

LOCAL = "This app's model"
CUSTOM = "Type a URL…"
WEIGHTLESS_PAGES = {"Home", "Prompt strategies", "Generation"}  # pages with a served-model path
LOCAL_HINT = ("To see it for your served model, load the same model here: in the sidebar choose "
              "*Other* under Model and enter its hub id (e.g. `HuggingFaceTB/SmolLM2-135M-Instruct`) "
              "or a local folder, if this machine can hold it.")


@dataclass(frozen=True)
class Backend:
    """A served model chosen in the sidebar."""

    endpoint: Endpoint
    model: str

    @property
    def label(self) -> str:
        """Model and endpoint names, markdown-escaped (both come from outside the app)."""
        return md(f"{self.model} on '{self.endpoint.name}'")


def md(text: str) -> str:
    """Text with markdown's special characters escaped, for st.markdown/caption/info."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:])", r"\\\1", text)


def _endpoints() -> dict[str, Endpoint]:
    """Operator-configured endpoints: .streamlit/secrets.toml [llm_lens.endpoints], then LLM_LENS_ENDPOINTS."""
    secrets = {}
    if st.secrets.load_if_toml_exists():
        secrets = st.secrets.to_dict().get("llm_lens", {}).get("endpoints", {})
    return remote.configured_endpoints(secrets)


def backend_selector() -> Backend | None:
    """Sidebar: this app's model or a served one (shown only when the operator configured endpoints)."""
    try:
        endpoints = _endpoints()
    except ValueError as error:
        st.sidebar.warning(f"Served models are misconfigured: {error}", icon="⚠️")
        endpoints = {}
    options = [LOCAL, *endpoints, *([CUSTOM] if remote.custom_allowed() else [])]
    if len(options) == 1:
        return None
    choice = st.sidebar.selectbox("Backend", options, key="srv_backend", persist_state="session",
                                  help="A served model answers the Prompt strategies and Generation pages.")
    if choice == LOCAL:
        return None
    try:
        endpoint = endpoints.get(choice) or _custom_endpoint()
        if endpoint is None:
            return None
        models = served_cache.get_served_models(endpoint.cache_id, endpoint)
    except ValueError as error:
        st.sidebar.warning(str(error), icon="⚠️")
        return None
    if not models:
        st.sidebar.warning(f"'{endpoint.name}' lists no models at /v1/models.", icon="⚠️")
        return None
    model = st.sidebar.selectbox("Served model", models, key=f"srv_model_{choice}", persist_state="session")
    try:
        problem = served_cache.get_adapter_mismatch(endpoint.cache_id, model, endpoint)
    except ValueError:
        problem = None  # the model list failed between two calls: the page's own request will say why
    if problem:
        st.sidebar.error(md(problem), icon="🚫")
    return Backend(endpoint, model)


def _custom_endpoint() -> Endpoint | None:
    url = st.sidebar.text_input("Base URL", key="srv_custom_url", placeholder="http://127.0.0.1:8000/v1")
    key = st.sidebar.text_input("API key (optional)", key="srv_custom_key", type="password")
    return remote.custom_endpoint(url, key) if url.strip() else None


def weights_notice(page_title: str, backend: Backend | None) -> None:
    """On pages that read the weights: they show this app's model, and how to see the served one here."""
    if backend is not None and page_title not in WEIGHTLESS_PAGES:
        st.info(f"**{page_title}** needs the model's weights, which a server does not send: this page shows "
                f"this app's model, not {backend.label}. {LOCAL_HINT}", icon="ℹ️")


def generation_section(backend: Backend, prompt: str, settings: core.GenerationSettings) -> None:
    """Greedy and N seeded samples of the shared prompt through the server, streamed side by side."""
    st.info(f"Completions come from {backend.label}. The other views of this page read the logits and "
            f"layers, which a server does not send. {LOCAL_HINT}", icon="ℹ️")
    left, right = st.columns(2)
    n = int(left.number_input("Samples", 1, 8, 4, key="srv_gen_samples"))
    api = right.radio("API", list(remote.APIS), format_func=remote.APIS.get, key="srv_gen_api", horizontal=True)
    if not st.button("Generate", key="srv_generate", type="primary"):
        st.caption(f"Greedy, then {n} samples (seeds {settings.seed}…{settings.seed + n - 1}). Press Generate.")
        return
    served = prompt if api == "completions" else (("user", prompt),)
    sampled = replace(settings, do_sample=True)
    requests = ((served, replace(settings, do_sample=False), 0), *((served, sampled, i) for i in range(n)))
    titles = ["Greedy", *(f"Sample {i + 1}" for i in range(n))]
    slots = []
    for title in titles:
        st.markdown(f"**{title}**")
        slots.append(st.empty())

    def on_update(texts: tuple[str, ...]) -> None:
        for slot, text in zip(slots, texts):
            slot.code(text + "▌", language=None, wrap_lines=True)

    try:
        done = served_cache.get_served_completions(backend.endpoint.cache_id, backend.model, requests, backend.endpoint,
                                            _on_update=on_update)
    except ValueError as error:
        widgets.show_error(error)
        return
    for slot, completion in zip(slots, done):
        with slot.container(border=True):
            st.code(completion.text or " ", language=None, wrap_lines=True)
            if completion.logprobs is not None:
                st.html(completion_tokens_html(completion.token_texts, completion.logprobs))
            st.caption(f"finish: {completion.finish_reason} · {completion.seconds:.1f} s")

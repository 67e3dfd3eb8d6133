"""Widgets every page shares: model choice, the prompt that follows the user, errors, settings."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import streamlit as st

import core
from core.models import DEFAULT_MODEL
from core.runtime import gate
from ui.caching import cache
from ui.markdown import md_text
from ui.sections import lessons_ui

T = TypeVar("T")
CUSTOM = "Other: local folder or hub id…"
DEFAULT_PROMPT = "The capital of France is Paris. The capital of Germany is"
PAGE = "page_path"  # the url path of the page this run shows ("" for Home), set by app.py
LOAD_POLL_SECONDS = 0.25  # how often a page waiting on a load in flight redraws its progress
LINKED = "share_linked"  # session keys a share link set (ui.share), checked once against the model


def default_model() -> str:
    """The model a new session starts on; LLM_LENS_MODEL overrides it (tests use tiny models)."""
    return os.environ.get("LLM_LENS_MODEL") or DEFAULT_MODEL


def model_key() -> str:
    """The name the sidebar chose (bundled name, folder or hub id): the key of every cached result."""
    return st.session_state.get("model_name") or default_model()


def scoped_key(key: str, model_name: str) -> str:
    """The key of a widget whose options or default come from one model (layers, matrices, sizes)."""
    return f"{key}@{model_name}"


def model_scoped(key: str) -> str:
    """scoped_key for the sidebar's model: switching models starts such a widget afresh, never stale."""
    return scoped_key(key, model_key())


def model_selector() -> str:
    """Sidebar choice of model; returns the name or path to load.

    LLM_LENS_ALLOW_OTHER_MODELS decides what "Other" offers: any folder or hub id (default), the
    operator's allow-list as plain choices, or nothing beyond the bundled models.
    """
    allowed = core.models.other_models_allowed()
    extra = [CUSTOM] if allowed is None else list(allowed)
    options = list(dict.fromkeys([default_model(), *core.list_models(), *extra]))
    choice = st.sidebar.selectbox(
        "Model", options, key="model_choice", persist_state="session", format_func=display_name,
        help="Both bundled models run offline."
        + (" A local folder or a hub id (online only) works too." if allowed is None else ""),
    )
    if choice != CUSTOM:
        return choice
    custom = st.sidebar.text_input(
        "Model folder or hub id", key="model_custom", persist_state="session",
        placeholder="/path/to/model or org/model", max_chars=300,
    )
    return custom.strip() or default_model()


def display_name(name: str) -> str:
    """A model choice as the sidebar shows it: a folder by its own name, never the server path to it."""
    return os.path.basename(name.rstrip("/")) if name.startswith(("/", "~", ".")) else name


def current_model() -> core.LoadedModel:
    """Load (once per process) the model chosen in the sidebar, showing progress; stop on error."""
    name = model_key()
    loaded = st.session_state.setdefault("models_seen", set())
    try:
        if name in loaded:
            return cache.get_model(name)
        with st.status(f"Loading {md_text(display_name(name))}…", expanded=True) as status:
            bar = st.progress(0.0)
            _follow_load_in_flight(name, bar)
            model = cache.get_model(name, _progress=lambda f, msg: bar.progress(f, text=msg))
            status.update(label=f"{md_text(model.info.name)} loaded", state="complete", expanded=False)
    except ValueError as error:
        st.error(md_text(error))
        st.stop()
    for note in model.warnings:  # once per session: later reruns take the early return above
        st.warning(md_text(note), icon="⚠️")
    loaded.add(name)
    return model


def _follow_load_in_flight(name: str, bar) -> None:
    """While another caller loads the model (the warm start, another session), show its progress."""
    while (progress := cache.loading_progress(name)) is not None:
        fraction, message = progress
        bar.progress(min(max(fraction, 0.0), 1.0), text=f"{message} (one load, shared by every session)")
        time.sleep(LOAD_POLL_SECONDS)


def require_decoder(model: core.LoadedModel) -> None:
    """Stop a page that needs next-token prediction when the chosen model is an encoder."""
    if not model.info.is_decoder:
        st.info(f"{md_text(model.info.name)} is an encoder: it reads text but does not generate it. "
                "Choose a decoder model.")
        st.stop()


def prompt_input(label: str = "Prompt", height: int = 110) -> str:
    """The shared prompt box (with the page's lesson presets above it): the same text follows the user."""
    lessons_ui.picker(st.session_state.get(PAGE, ""))
    return st.text_area(
        label, value=DEFAULT_PROMPT, key="prompt", height=height, persist_state="session",
        help="Typed once, it follows you to the other pages. Ctrl+Enter applies it.",
    )


def computed_or_stop(message: str | None, compute: Callable[..., T], *args) -> T:
    """Run a cached core call under a spinner; on bad input show the reason and stop the page."""
    try:
        with model_wait(message):
            return compute(*args)
    except ValueError as error:
        show_error(error)
        st.stop()


def limits_caption(*limits: str) -> None:
    """The caps of a page's model work, stated where the reader sees them (larger input gets a message)."""
    st.caption("Limits on a shared server: " + " · ".join(limits) + ".")


def linked_out_of_range(key: str, what: str, valid: str) -> None:
    """Say so when a value a share link set (e.g. layer 99) does not exist for this model or view."""
    linked = st.session_state.get(LINKED, set())
    if key in linked:
        linked.discard(key)
        st.warning(f"The link asked for {what}, which does not exist here ({valid}); showing the default.", icon="🔗")


# --- Place in the model's queue (shared server: one computation per model at a time) ---


def queue_text(ahead: int) -> str:
    """What a waiting page says: '⏳ Waiting for the model: 2 requests ahead'."""
    return f"⏳ Waiting for the model: {ahead} request{'s' if ahead != 1 else ''} ahead"


@contextmanager
def model_wait(message: str | None) -> Iterator[None]:
    """A spinner (when message is given) plus, while the body waits at the model's gate, a line
    saying how many requests are ahead; it updates as the queue moves and goes when the turn comes."""
    place = st.empty()

    def report(ahead: int) -> None:
        if ahead > 0:
            place.caption(queue_text(ahead))
        else:
            place.empty()

    try:
        with gate.report_waits_to(report):
            if message is None:
                yield
            else:
                with st.spinner(message):
                    yield
    finally:
        place.empty()


def show_error(error: Exception) -> None:
    """A bad-input message from core/, shown as a warning that names the limit."""
    st.warning(md_text(error), icon="⚠️")  # messages quote user input: never Markdown


def model_card(info: core.ModelInfo) -> None:
    """Key facts of the loaded model as metrics (readable on a projector)."""
    st.markdown(f"**{md_text(info.name)}** · {md_text(info.architecture)} · {info.kind}-only · "
                f"{md_text(info.description)}")
    cols = st.columns(6)
    cols[0].metric("Layers", info.layers)
    cols[1].metric("Heads", info.heads, help=f"{info.kv_heads} key/value heads")
    cols[2].metric("d_model", info.d_model)
    cols[3].metric("Vocabulary", f"{info.vocab_size:,}")
    cols[4].metric("Context", f"{info.context_window:,}")
    cols[5].metric("Parameters", f"{info.parameters / 1e6:,.1f} M", help=f"{info.parameters:,} in {info.dtype}")

"""Streamlit caches of the Tokens page: tokenizers compared, chat template, context fit."""

from __future__ import annotations

import streamlit as st

import core
from core import tokenizers_compare
from ui.caching.cache import get_model, get_tokens


def _comparison_tokenizers(model_name: str) -> dict[str, object]:
    """The current model's tokenizer first, then the bundled models' (loaded alone, without weights)."""
    model = get_model(model_name)
    tokenizers = {model.name: model.tokenizer}  # the display name: a folder's name, never its full path
    for name in core.list_models():
        if name not in tokenizers:  # the current model's tokenizer is already in memory
            tokenizers[name] = get_tokenizer(name)
    return tokenizers


@st.cache_resource(show_spinner=False, max_entries=4)
def get_tokenizer(name: str) -> object:
    """A bundled model's tokenizer alone, read once per process (read-only, shared)."""
    return tokenizers_compare.load_tokenizer(name)


@st.cache_resource(show_spinner=False, max_entries=16)
def get_tokenizer_comparison(
    model_name: str, text: str, include_openai: bool = True
) -> tuple[tokenizers_compare.TokenizerView, ...]:
    """The text through the model's, the bundled and (unless left out) the two OpenAI tokenizers."""
    return tokenizers_compare.compare_tokenizers(text, _comparison_tokenizers(model_name), include_openai)


@st.cache_data(show_spinner=False, max_entries=32)
def get_openai_refusal(text: str) -> str | None:
    """Why the OpenAI tokenizers would take too long on this text, or None when they can run."""
    try:
        tokenizers_compare.check_tiktoken_cost(text)
    except ValueError as error:
        return str(error)
    return None


@st.cache_resource(show_spinner=False, max_entries=4)
def get_language_costs(model_name: str) -> tuple[tuple[str, ...], tuple[str, ...], object]:
    """Token counts of one sentence in several languages per tokenizer (languages, names, counts)."""
    return tokenizers_compare.language_costs(_comparison_tokenizers(model_name))


@st.cache_resource(show_spinner=False, max_entries=16)
def get_chat_wrap(model_name: str, text: str) -> tokenizers_compare.ChatWrap | None:
    """Text wrapped by the model's chat template and tokenized; None without a template."""
    return tokenizers_compare.chat_wrap(get_model(model_name), text)


@st.cache_resource(show_spinner=False, max_entries=32)
def get_context_fit(model_name: str, text: str, reserved: int, side: str) -> tokenizers_compare.ContextFit:
    """Prompt + chat-template overhead + reserved answer tokens against the context window."""
    model = get_model(model_name)
    tokens = get_tokens(model_name, text)
    wrap = get_chat_wrap(model_name, text)
    overhead = tokenizers_compare.template_overhead(tokens, wrap)
    return tokenizers_compare.context_fit(tokens, overhead, reserved, model.info.context_window, side)

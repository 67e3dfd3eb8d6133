"""Sections of the Tokens page: chips, counts, table, context window, chat template, tokenizers compared."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import core
from core.export import safe_csv
from core.tokenizers_compare import CUT_SIDES, LANGUAGE_SAMPLES, MAX_TIKTOKEN_RUN_BYTES, added_mask
from ui import choices, present, widgets
from ui.caching import tokens_cache
from ui.choices import Choice
from ui.markdown import md_code, md_text
from viz import tokens as viz

COMPARE_CHIPS = 400  # per tokenizer: enough to read, small enough for four side by side
CHIP_LABEL = Choice("tokens_chip_label", "choice", viz.SHOW_OPTIONS[0], choices=viz.SHOW_OPTIONS,
                    label="Number under each token", widget="radio")
CUT_SIDE = Choice("tokens_cut_side", "choice", CUT_SIDES[0], choices=CUT_SIDES,
                  label="If it does not fit, cut the prompt's", widget="radio")
CHOICES = (CHIP_LABEL, CUT_SIDE)



def chips_section(tokens: core.Tokenization) -> None:
    """The user's text as coloured token chips, with positions or ids."""
    show = choices.show(CHIP_LABEL, horizontal=True,
                        format_func={"position": "position", "id": "token id", "none": "nothing"}.get)
    st.html(viz.token_chips_html(tokens, show=show))
    st.caption(
        "`·` is a space, `↵` a newline. Dashed chips are special tokens the tokenizer adds. "
        "An orange underline and `(1/3)` mean one character was split over several tokens: "
        "byte-level BPE works on UTF-8 bytes, and rare characters need several."
    )


def counts_section(tokens: core.Tokenization) -> None:
    """Characters, words, tokens and tokens per word."""
    words = len(tokens.text.split())
    cols = st.columns(4)
    cols[0].metric("Characters", f"{len(tokens.text):,}")
    cols[1].metric("Words", f"{words:,}", help="Whitespace-separated words (Chinese or Japanese have few spaces).")
    added = int(added_mask(tokens).sum())
    cols[2].metric("Tokens", f"{len(tokens):,}", help=f"{added} special tokens added by the tokenizer")
    cols[3].metric("Tokens per word", f"{len(tokens) / max(words, 1):.2f}")


def token_table(tokens: core.Tokenization) -> pd.DataFrame:
    """One row per token: position, id, raw piece, decoded text, character span, special flag."""
    return pd.DataFrame(
        {
            "position": range(len(tokens)),
            "id": tokens.ids,
            "piece": tokens.pieces,
            "text": tokens.labels,
            "start": tokens.spans[:, 0],
            "end": tokens.spans[:, 1],
            "special": tokens.special,
        }
    )


def table_section(tokens: core.Tokenization) -> None:
    """The token table and its CSV download."""
    table = token_table(tokens)
    st.dataframe(table, hide_index=True, height=260, key="tokens_table")
    st.download_button(
        "Download tokens (CSV)", safe_csv(table), file_name="tokens.csv", mime="text/csv",
        key="tokens_csv",
    )


def context_section(model: core.LoadedModel, text: str) -> None:
    """Gauge of prompt + chat template + reserved answer against the context window, and what is cut."""
    window = model.info.context_window
    cols = st.columns(2)
    if model.info.is_decoder:
        # Keyed by the window: a value kept from a model with a larger window would be out of range here.
        reserved = cols[0].number_input(
            "Tokens reserved for the answer", 0, window, min(256, window // 4), step=64,
            key=f"tokens_reserve_{window}", help="A model writes its answer into the same window as the prompt.",
        )
    else:
        reserved = 0
        cols[0].caption("An encoder reads the text and writes no answer, so nothing is reserved.")
    side = choices.show(CUT_SIDE, cols[1], horizontal=True)
    try:
        with st.spinner("Wrapping the text in the chat template…"):  # ~1 s for 100k characters
            fit = tokens_cache.get_context_fit(widgets.model_key(), text, int(reserved), side)
    except ValueError as error:  # the chat template can push a text at the character limit over it
        widgets.show_error(error)
        return
    st.plotly_chart(present.styled(viz.context_gauge(fit)), key="tokens_gauge")
    summary = (
        f"{fit.prompt:,} prompt + {fit.overhead:,} template + {fit.reserved:,} answer = "
        f"**{fit.total:,}** of {fit.window:,} tokens"
    )
    if fit.fits:
        st.success(f"Fits: {summary}.")
        return
    st.error(f"Does not fit: {summary}. {fit.cut_tokens:,} prompt tokens would be cut from the {side}:")
    shown = fit.cut_text if len(fit.cut_text) <= 600 else fit.cut_text[:300] + " … " + fit.cut_text[-300:]
    st.text(shown)


def chat_section(text: str) -> None:
    """The text wrapped by the model's own chat template, the special tokens it adds and their count."""
    try:
        wrap = tokens_cache.get_chat_wrap(widgets.model_key(), text)
    except ValueError as error:
        widgets.show_error(error)
        return
    if wrap is None:
        st.info("This model has no chat template: it reads the text as it is (an encoder, or a base model).")
        return
    st.html(viz.token_chips_html(wrap.tokens, show="none"))
    cols = st.columns(3)
    cols[0].metric("Your text", f"{wrap.prompt_count:,} tokens")
    cols[1].metric("Template adds", f"{wrap.overhead:,} tokens")
    cols[2].metric("Special tokens added", len(wrap.added_special))
    st.caption(
        "Chat models were trained on conversations marked up with special tokens. The template adds "
        "them, role names and sometimes a default system message, all of which use context. "
        f"Added special tokens: {', '.join(md_code(s) for s in dict.fromkeys(wrap.added_special)) or 'none'}."
    )


def warm(name: str, text: str) -> None:
    """The comparison as it opens on text, computed before anyone asks (it loads three tokenizers)."""
    tokens_cache.get_tokenizer_comparison(name, text, tokens_cache.get_openai_refusal(text) is None)
    tokens_cache.get_language_costs(name)


def compare_section(text: str) -> None:
    """Token counts of the same text for four tokenizers, their chips, and the cost across languages."""
    refusal = tokens_cache.get_openai_refusal(text)
    if refusal:
        widgets.show_error(ValueError(refusal + " The OpenAI tokenizers are left out; the others are shown."))
    views = tokens_cache.get_tokenizer_comparison(widgets.model_key(), text, refusal is None)
    st.plotly_chart(present.styled(viz.token_count_chart([v.name for v in views], [v.count for v in views])),
                    key="tokens_compare")
    for view in views:
        with st.expander(f"{md_text(view.name)}: {view.count:,} tokens · {view.kind} · vocabulary {view.vocab_size:,}"):
            st.html(viz.token_chips_html(view.tokens, show="none", max_chips=COMPARE_CHIPS))
    languages, names, counts = tokens_cache.get_language_costs(widgets.model_key())
    st.plotly_chart(present.styled(viz.language_cost_chart(languages, names, counts)), key="tokens_languages")
    st.caption(
        f"The OpenAI tokenizers run in pure Python here: they take runs without spaces of up to "
        f"{MAX_TIKTOKEN_RUN_BYTES:,} bytes and a bounded amount of merging work per text (about half a second)."
    )
    st.caption(
        " · ".join(f"{language}: {sample}" for language, sample in LANGUAGE_SAMPLES.items())
        + ". A low WordPiece count can mean `[UNK]` tokens: characters outside its vocabulary are lost, not cheap."
    )

"""Tokens: how your text becomes the token ids the model reads, and what fits in its context window."""

import streamlit as st

from core.tokenizers_compare import MAX_TIKTOKEN_RUN_BYTES
from core.tokens import MAX_CHARS
from ui import present, widgets
from ui.caching import cache
from ui.sections import tokens_ui
from viz.tokens import MAX_CHIPS

st.title("🔤 Tokens")
present.explain(
    "A model never sees letters. Its tokenizer cuts the text into **tokens**, pieces from a fixed "
    "vocabulary, and the model reads only their ids. Common words are one token; rare words, names and "
    "other scripts are split into several pieces, down to single bytes."
)
model = widgets.current_model()
text = widgets.prompt_input()
widgets.limits_caption(f"{MAX_CHARS:,} characters per text", f"chips for the first {MAX_CHIPS:,} tokens",
                       f"OpenAI tokenizers: runs without spaces of up to {MAX_TIKTOKEN_RUN_BYTES:,} bytes")
tokens = widgets.computed_or_stop("Tokenizing…", cache.get_tokens, widgets.model_key(), text)

st.subheader("Your text as tokens")
tokens_ui.chips_section(tokens)
tokens_ui.counts_section(tokens)
with st.expander("Token table (position, id, piece, text, character span)"):
    tokens_ui.table_section(tokens)

st.subheader("Does it fit in the context window?")
st.markdown(
    f"The model attends to at most **{model.info.context_window:,} tokens** at once: prompt, chat markup "
    "and the answer it writes all share this window. What does not fit is cut and never seen."
)
tokens_ui.context_section(model, text)

st.subheader("The same text as a chat message")
tokens_ui.chat_section(text)

st.subheader("Tokenizers side by side")
st.markdown(
    "Each model family trains its own vocabulary on its own data, so counts differ. A bigger vocabulary "
    "(GPT-4o's 200k) holds more whole words, especially outside English, so the same text costs fewer tokens; "
    "WordPiece (MiniLM) lower-cases and marks unknown characters `[UNK]`. Counts here exclude special tokens."
)
with st.spinner("Tokenizing with four tokenizers…"):
    tokens_ui.compare_section(text)

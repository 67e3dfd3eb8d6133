"""Embeddings: the vector each token becomes, how position enters, and how context moves it layer by layer."""

import streamlit as st

from core import embeddings as emb
from ui import present, widgets
from ui.caching import embeddings_cache
from ui.sections import embeddings_ui
from ui.widgets import model_key

st.title("🧭 Embeddings")
present.explain(
    "The first layer of a model is a lookup table: each token id picks one row, a vector of numbers "
    "(its **embedding**). Tokens with related meanings get vectors that point in similar directions. "
    "Then every layer mixes in context, so the same word ends up with different vectors in different sentences."
)
model = widgets.current_model()
text = widgets.prompt_input()
widgets.limits_caption(f"{emb.MAX_EMBED_TOKENS} tokens per prompt (one forward pass keeps every layer's vectors)",
                       f"{emb.MAX_SENTENCES} sentences of up to {emb.MAX_SENTENCE_TOKENS} tokens",
                       f"{emb.MAX_NEIGHBOURS} neighbours")
states = widgets.computed_or_stop("Running the model…", embeddings_cache.get_token_states, model_key(), text)

st.subheader("One vector per token")
embeddings_ui.vectors_section(states)
st.subheader("How position enters")
embeddings_ui.position_section(model, len(states.tokens))

st.subheader("Context moves the vectors")
st.markdown(
    "PCA flattens the vectors to 2 or 3 dimensions that keep as much of their spread as possible. "
    "Compare the vectors before any context with the hidden states after a layer you pick."
)
layer, skip = embeddings_ui.layer_controls(states, model.info.is_decoder)
embeddings_ui.projection_section(text, states, layer, skip)
embeddings_ui.similarity_section(text, states, layer, skip)
st.markdown("**The same token in different contexts**: 1.0 means identical direction.")
embeddings_ui.repeated_section(text, states)

st.subheader("Nearest neighbours in the vocabulary")
st.caption("The tokens whose input embeddings point most nearly the same way (cosine similarity).")
embeddings_ui.neighbours_section(states)

st.subheader("Sentence similarity")
st.caption(
    f"{embeddings_ui.SENTENCE_MODEL} averages its last layer over each sentence's tokens (mean pooling) "
    "and scales the result to length 1; the cosine of two such vectors measures how close their meanings are."
)
embeddings_ui.sentences_section()

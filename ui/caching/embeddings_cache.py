"""Streamlit caches of the Embeddings page: token vectors, neighbours, projections, similarities."""

from __future__ import annotations

import streamlit as st

from core import embeddings
from ui.caching.cache import by_bytes, get_model


@by_bytes
def get_token_states(model_name: str, text: str) -> embeddings.TokenStates:
    """Static embeddings and every layer's hidden states for the text (one forward pass)."""
    return embeddings.embed_text(get_model(model_name), text)


@st.cache_resource(show_spinner=False, max_entries=3)
def get_vocab_norms(model_name: str) -> object:
    """(vocab,) input-embedding lengths, computed once per model for nearest-neighbour search."""
    return embeddings.vocab_norms(get_model(model_name))


@st.cache_resource(show_spinner=False, max_entries=64)
def get_neighbours(model_name: str, token_id: int, k: int) -> embeddings.Neighbours:
    """Top-k vocabulary neighbours of one token by cosine similarity."""
    return embeddings.nearest_neighbours(get_model(model_name), token_id, k, get_vocab_norms(model_name))


@st.cache_resource(show_spinner=False, max_entries=8)
def get_position_embeddings(model_name: str, n_positions: int) -> object:
    """(pos, d_model) learned position vectors, or None for rotary models."""
    return embeddings.position_embeddings(get_model(model_name), n_positions)


@st.cache_resource(show_spinner=False, max_entries=16)
def get_projection(model_name: str, text: str, layer: int, dims: int, skip_first: bool) -> embeddings.Projection:
    """PCA of the text's vectors at a layer (-1 = static token embeddings), optionally without position 0."""
    vectors = get_token_states(model_name, text).vectors_at(layer)
    return embeddings.pca(vectors[int(skip_first):], dims)


@st.cache_resource(show_spinner=False, max_entries=16)
def get_sentence_embeddings(model_name: str, sentences: tuple[str, ...]) -> embeddings.SentenceEmbeddings:
    """Mean-pooled sentence vectors and their similarity matrix."""
    return embeddings.sentence_embeddings(get_model(model_name), sentences)


@st.cache_resource(show_spinner=False, max_entries=16)
def get_similarity(model_name: str, text: str, layer: int, skip_first: bool) -> object:
    """(pos, pos) cosine similarity of the text's vectors at a layer (-1 = static token embeddings)."""
    vectors = get_token_states(model_name, text).vectors_at(layer)
    return embeddings.cosine_matrix(vectors[int(skip_first):])


@st.cache_resource(show_spinner=False, max_entries=8)
def get_repeated_similarity(model_name: str, text: str) -> dict:
    """{(pos_a, pos_b): (layer+1,) cosine} for every pair of positions holding the same token."""
    states = get_token_states(model_name, text)
    return embeddings.repeated_token_similarity(states.tokens.ids, states.hidden_states)


@st.cache_data(show_spinner=False, max_entries=64)
def get_word_token(model_name: str, word: str) -> int:
    """The id of a word that is exactly one token; ValueError naming the split otherwise."""
    return embeddings.single_token_id(get_model(model_name), word)


@st.cache_resource(show_spinner=False, max_entries=8)
def get_position_similarity(model_name: str, n_positions: int) -> object:
    """(pos, pos) cosine similarity between learned position vectors (None-safe: call only when they exist)."""
    return embeddings.cosine_matrix(get_position_embeddings(model_name, n_positions))

"""Sections of the Embeddings page: vectors, positions, projections, similarities, neighbours, sentences."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

import core
from core.embeddings import MAX_NEIGHBOURS, TokenStates
from core.export import safe_csv
from ui import choices, present, widgets
from ui.caching import embeddings_cache
from ui.choices import MAX_INDEX, Choice
from ui.markdown import md_text
from ui.widgets import model_key
from viz import embeddings as viz

SENTENCE_MODEL = "all-MiniLM-L6-v2"  # trained for sentence similarity (sentence-transformers)
DEFAULT_SENTENCES = (
    "I sat on the river bank and watched the water.\n"
    "She opened a savings account at the bank.\n"
    "The stream flowed past the muddy shore.\n"
    "Interest rates at my bank went up again."
)
# Layer and skip: the link names them plainly; their widgets' keys and defaults depend on the model (depth,
# kind), so layer_controls moves a linked value into the model's widget and mirrors it back.
LAYER = Choice("emb_layer", "int", None, 0, MAX_INDEX, label="Layer",
               help="0 is the embedding layer's output; each step is one more transformer block.")
SKIP_FIRST = Choice("emb_skip_first", "bool", None, label="Leave out the first token",
                    help="In decoders the first token becomes an 'attention sink' with a huge vector that squeezes "
                    "every other point into a corner.")
DIMS = Choice("emb_dims", "int", 2, 2, 3, label="Projection", widget="radio")
NEIGHBOURS = Choice("emb_nn_k", "int", 10, 1, MAX_NEIGHBOURS, label="How many", widget="number")
CHOICES = (LAYER, SKIP_FIRST, DIMS, NEIGHBOURS)


def vectors_csv(vectors: np.ndarray, labels, first: int = 0) -> str:
    """CSV of (pos, d) vectors with position and token columns first."""
    table = pd.DataFrame(np.asarray(vectors), columns=[f"dim_{i}" for i in range(np.shape(vectors)[1])])
    table.insert(0, "token", list(labels))
    table.insert(0, "position", range(first, first + len(table)))
    return safe_csv(table)


def matrix_csv(matrix: np.ndarray, labels, first: int = 0) -> str:
    """CSV of an (n, n) matrix with 'pos:token' row and column names."""
    names = [f"{first + i}:{label}" for i, label in enumerate(labels)]
    return safe_csv(pd.DataFrame(np.asarray(matrix), index=names, columns=names), index=True)


def vectors_section(states: TokenStates) -> None:
    """Each token's input embedding as a heatmap row, and its length."""
    labels = states.tokens.labels
    st.plotly_chart(present.styled(viz.embedding_heatmap(states.embeddings, labels, "Input embedding of each token")),
                    key="emb_heatmap")
    st.plotly_chart(present.styled(viz.vector_norms_chart(np.linalg.norm(states.embeddings, axis=1), labels)),
                    key="emb_norms")
    st.download_button("Download token embeddings (CSV)", vectors_csv(states.embeddings, labels),
                       file_name="token_embeddings.csv", mime="text/csv", key="emb_csv_vectors")


def position_section(model: core.LoadedModel, n_positions: int) -> None:
    """Learned position vectors when the model has them; otherwise why rotary models have none."""
    positions = embeddings_cache.get_position_embeddings(model_key(), n_positions)
    if positions is None:
        st.info(
            f"**{md_text(model.info.name)} uses rotary position embeddings (RoPE).** There is no position vector to "
            "add to the token embedding: inside every attention layer, queries and keys are rotated by an "
            "angle that grows with the position, so attention scores depend on how far apart two tokens are. "
            "The same word has the same input embedding at any position."
        )
        return
    st.markdown(
        f"**{md_text(model.info.name)} learned one position vector per position** (up to "
        f"{model.info.context_window:,}); it is added to the token embedding before the first layer."
    )
    labels = [""] * n_positions  # rows are positions, not tokens
    cols = st.columns(2)
    cols[0].plotly_chart(present.styled(viz.embedding_heatmap(positions, labels, "Position embeddings")),
                         key="emb_positions")
    similarity = embeddings_cache.get_position_similarity(model_key(), n_positions)
    cols[1].plotly_chart(present.styled(viz.similarity_heatmap(similarity, labels, "Similarity between positions")),
                         key="emb_position_similarity")


def layer_controls(states: TokenStates, is_decoder: bool) -> tuple[int, bool]:
    """Slider for the layer to inspect and whether to leave out the first token."""
    layers = states.hidden_states.shape[0] - 1
    default_layer = min(layers, max(1, layers * 2 // 3))
    # Keyed by the depth: a layer kept from a deeper model would be out of range for this one.
    layer_key, skip_key = f"emb_layer_{layers}", f"emb_skip_first_{'decoder' if is_decoder else 'encoder'}"
    _take_linked(LAYER.key, layer_key, lambda value: value <= layers, "layer", f"layers 0…{layers}")
    _take_linked(SKIP_FIRST.key, skip_key, lambda value: True, "", "")
    cols = st.columns([3, 2])
    layer = cols[0].slider(LAYER.label, 0, layers, default_layer, key=layer_key, help=LAYER.help)
    skip = cols[1].toggle(SKIP_FIRST.label, value=is_decoder, disabled=len(states.tokens) < 3,
                          key=skip_key, help=SKIP_FIRST.help)  # each kind keeps its own default
    _mirror(LAYER.key, layer, default_layer)
    _mirror(SKIP_FIRST.key, bool(skip), is_decoder)
    return layer, bool(skip and len(states.tokens) >= 3)


def _take_linked(link_key: str, widget_key: str, fits, what: str, valid: str) -> None:
    """Move a value a share link set into this model's widget, or say it does not exist here."""
    linked = st.session_state.get(widgets.LINKED, set())
    if link_key not in linked:
        return
    value = st.session_state.get(link_key)
    if fits(value):
        linked.discard(link_key)
        st.session_state[widget_key] = value
    else:
        widgets.linked_out_of_range(link_key, f"{what} {value}", valid)
        st.session_state.pop(link_key, None)


def _mirror(link_key: str, value, default) -> None:
    """Keep the plain key the share link reads in step with the widget (absent at the model's default)."""
    if value == default:
        st.session_state.pop(link_key, None)
    else:
        st.session_state[link_key] = value


def projection_section(text: str, states: TokenStates, layer: int, skip: bool) -> None:
    """PCA of the static embeddings and of the hidden states at the chosen layer."""
    dims = choices.show(DIMS, horizontal=True, format_func=lambda d: f"{d}-D")
    first = int(skip)
    labels = states.tokens.labels[first:]
    cols = st.columns(2)
    views = ((cols[0], -1, "Token embeddings (no context)"), (cols[1], layer, f"After layer {layer}"))
    for col, source, title in views:
        projection = embeddings_cache.get_projection(model_key(), text, source, dims, skip)
        col.plotly_chart(present.styled(viz.pca_scatter(projection.coords, labels, projection.explained, title, first)),
                         key=f"emb_pca_{'static' if source < 0 else 'layer'}")


def similarity_section(text: str, states: TokenStates, layer: int, skip: bool) -> None:
    """Cosine similarity between the prompt's tokens: static embeddings vs the chosen layer, with CSV."""
    first = int(skip)
    labels = states.tokens.labels[first:]
    cols = st.columns(2)
    for col, source, title in ((cols[0], -1, "Token embeddings"), (cols[1], layer, f"Layer {layer}")):
        matrix = embeddings_cache.get_similarity(model_key(), text, source, skip)
        name = "static" if source < 0 else f"layer{layer}"
        col.plotly_chart(present.styled(viz.similarity_heatmap(matrix, labels, f"Cosine similarity: {title}", first)),
                         key=f"emb_sim_{name}")
        col.download_button(f"Download {title.lower()} similarity (CSV)", matrix_csv(matrix, labels, first),
                            file_name=f"similarity_{name}.csv", mime="text/csv", key=f"emb_csv_sim_{name}")
    vectors = states.hidden_states[layer][first:]
    st.download_button(f"Download hidden states after layer {layer} (CSV)", vectors_csv(vectors, labels, first),
                       file_name=f"hidden_states_layer{layer}.csv", mime="text/csv", key="emb_csv_hidden")


def repeated_section(text: str, states: TokenStates) -> None:
    """Lines showing how two copies of one token drift apart through the layers."""
    pairs = embeddings_cache.get_repeated_similarity(model_key(), text)
    if not pairs:
        st.info("No token appears twice in this prompt. Try: “I sat on the river bank. I opened a bank account.”")
        return
    shown = dict(list(pairs.items())[:12])  # more lines than this is unreadable
    st.plotly_chart(present.styled(viz.layer_similarity_chart(shown, states.tokens.labels)), key="emb_repeated")
    st.caption("Try a word with two meanings: “I sat on the river bank. I opened a bank account.”")


def neighbours_section(states: TokenStates) -> None:
    """Nearest vocabulary tokens (cosine of input embeddings) to a prompt token or a typed word."""
    typed = [i for i in range(len(states.tokens)) if not states.tokens.special[i]] or [0]
    # Options are the labels themselves: a new prompt gives new options, so a stale choice cannot survive it.
    options = {f"{i}: {states.tokens.labels[i]}": i for i in typed}
    cols = st.columns([2, 2, 1])
    choice = cols[0].selectbox("Token from your prompt", list(options), key="emb_nn_pos")
    position = options.get(choice, typed[0])
    word = cols[1].text_input("…or type a word (one token, e.g. ' king')", key="emb_nn_word").strip("\n")
    k = choices.show(NEIGHBOURS, cols[2])
    try:
        chosen = int(states.tokens.ids[position])
        token_id = embeddings_cache.get_word_token(model_key(), word) if word.strip() else chosen
        found = embeddings_cache.get_neighbours(model_key(), token_id, int(k))
    except ValueError as error:
        widgets.show_error(error)
        return
    st.plotly_chart(present.styled(viz.neighbours_chart(found.labels, found.scores, found.query_label)),
                    key="emb_neighbours")


def warm(name: str) -> None:
    """Per-model data the page opens on, computed before anyone asks: vocabulary norms, the sentence model's
    similarities for the default sentences."""
    embeddings_cache.get_vocab_norms(name)
    embeddings_cache.get_sentence_embeddings(SENTENCE_MODEL, _lines(DEFAULT_SENTENCES))


def _lines(typed: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in typed.splitlines() if line.strip())


def sentences_section() -> None:
    """Pairwise similarity of a few sentences, mean-pooled with the sentence model."""
    typed = st.text_area("Sentences, one per line", DEFAULT_SENTENCES, key="emb_sentences", height=130)
    sentences = _lines(typed)
    try:
        with st.spinner(f"Embedding sentences with {SENTENCE_MODEL}…"):
            result = embeddings_cache.get_sentence_embeddings(SENTENCE_MODEL, sentences)
    except ValueError as error:
        widgets.show_error(error)
        return
    labels = [s if len(s) <= 28 else s[:27] + "…" for s in result.sentences]
    st.plotly_chart(present.styled(viz.similarity_heatmap(result.similarity, labels, "Sentence similarity (cosine)")),
                    key="emb_sentence_sim")
    st.download_button("Download sentence similarity (CSV)", matrix_csv(result.similarity, result.sentences),
                       file_name="sentence_similarity.csv", mime="text/csv", key="emb_csv_sentences")

"""Embedding geometry: vocabulary neighbours, PCA projections, cosine similarities, sentence vectors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.analysis import check_length
from core.models import LoadedModel
from core.runtime import calls, gate
from core.runtime.arrays import frozen
from core.runtime.padding import pad_batch
from core.tokens import Tokenization, check_text, token_label, tokenize

MAX_EMBED_TOKENS = 512
MAX_NEIGHBOURS = 100
MAX_SENTENCES = 12
MAX_SENTENCE_TOKENS = 256
_EPS = 1e-12


@dataclass(frozen=True)
class TokenStates:
    """A text's vectors: static input embeddings, then the hidden state after every layer."""

    model_name: str
    tokens: Tokenization
    embeddings: np.ndarray  # (pos, d_model) input token embeddings, no position information
    hidden_states: np.ndarray  # (layer+1, pos, d_model): embedding output, then each layer

    def vectors_at(self, layer: int) -> np.ndarray:
        """(pos, d_model) the text's vectors at a layer; -1 means the static input embeddings."""
        return self.embeddings if layer < 0 else self.hidden_states[layer]


@dataclass(frozen=True)
class Neighbours:
    """The vocabulary tokens whose input embeddings point most nearly the same way as one token's."""

    query_id: int
    query_label: str
    ids: np.ndarray  # (k,) int64, most similar first, the query itself excluded
    labels: tuple[str, ...]  # decoded tokens with visible whitespace
    scores: np.ndarray  # (k,) cosine similarity in [-1, 1]


@dataclass(frozen=True)
class Projection:
    """Points projected on their first principal components."""

    coords: np.ndarray  # (pos, dims)
    explained: np.ndarray  # (dims,) fraction of the variance each axis keeps


@dataclass(frozen=True)
class SentenceEmbeddings:
    """Mean-pooled, L2-normalised sentence vectors and their pairwise cosine similarities."""

    sentences: tuple[str, ...]
    vectors: np.ndarray  # (sentence, d_model), unit length
    similarity: np.ndarray  # (sentence, sentence) cosine similarity


def embed_text(model: LoadedModel, text: str, max_tokens: int = MAX_EMBED_TOKENS) -> TokenStates:
    """One forward pass of the base model (no attention kept, no LM head) for the text's vectors."""
    tokens = tokenize(model, text)
    check_length(model, len(tokens), max_tokens)
    input_ids = torch.from_numpy(tokens.ids).unsqueeze(0)
    network = calls.network(model)
    base = getattr(network, "base_model", network)  # skips the LM head: no logits needed here
    with gate.inference(model):
        output = calls.run_module(model, base, input_ids, output_hidden_states=True)
        embeddings = calls.embed(model, input_ids)[0]
    hidden = torch.cat(output.hidden_states, dim=0)  # (layer+1, pos, d_model)
    return TokenStates(model.name, tokens, frozen(embeddings), frozen(hidden))


def embedding_matrix(model: LoadedModel) -> np.ndarray:
    """The input embedding table (vocab, d_model), a read-only view of the model's weights (no copy)."""
    return frozen(model.model.get_input_embeddings().weight)


def vocab_norms(model: LoadedModel) -> np.ndarray:
    """(vocab,) length of every input embedding; computed once per model and cached by the caller."""
    return frozen(np.linalg.norm(embedding_matrix(model), axis=1).astype(np.float32))


def nearest_neighbours(model: LoadedModel, token_id: int, k: int = 10, norms: np.ndarray | None = None) -> Neighbours:
    """Top-k vocabulary tokens by cosine similarity of input embeddings (the query excluded)."""
    matrix = embedding_matrix(model)
    vocab = matrix.shape[0]
    if not 0 <= int(token_id) < vocab:
        raise ValueError(f"Token id {token_id} is outside the vocabulary (0 to {vocab - 1:,}).")
    if not 1 <= k <= MAX_NEIGHBOURS:
        raise ValueError(f"Number of neighbours must be between 1 and {MAX_NEIGHBOURS}, not {k}.")
    norms = vocab_norms(model) if norms is None else norms
    query = matrix[int(token_id)]
    # One matrix-vector product over the whole vocabulary (~10 ms), not a Python loop.
    scores = (matrix @ query) / (np.maximum(norms, _EPS) * max(float(np.linalg.norm(query)), _EPS))
    scores[int(token_id)] = -np.inf
    top = np.argpartition(-scores, k)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    labels = tuple(token_label(model.tokenizer, i) for i in top)
    query_label = token_label(model.tokenizer, int(token_id))
    return Neighbours(int(token_id), query_label, frozen(top.astype(np.int64)), labels, frozen(scores[top]))


def single_token_id(model: LoadedModel, word: str) -> int:
    """The id of a word that is exactly one token (no special tokens); ValueError naming the split otherwise."""
    check_text(word)
    ids = model.tokenizer(word, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        pieces = ", ".join(repr(token_label(model.tokenizer, i)) for i in ids[:8])
        raise ValueError(
            f"'{word}' is {len(ids)} tokens ({pieces}); pick a word that is a single token "
            "(with byte-level BPE, try a leading space: ' king')."
        )
    return int(ids[0])


def pca(vectors: np.ndarray, dims: int = 2) -> Projection:
    """Project (pos, d_model) vectors on their first `dims` principal components (deterministic signs)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.ndim != 2 or vectors.shape[0] < 1:
        raise ValueError("PCA needs a (points, dimensions) array with at least one point.")
    if dims not in (2, 3):
        raise ValueError(f"Projection must be 2-D or 3-D, not {dims}-D.")
    centred = vectors - vectors.mean(axis=0)
    # Eigenvectors of the (pos, pos) Gram matrix are the SVD's left vectors. LAPACK's SVD pays ~0.3 s of
    # set-up in every new thread, and Streamlit runs each rerun in a new one; eigh does not.
    variance, u = np.linalg.eigh(centred @ centred.T)
    variance, u = np.clip(variance[::-1], 0.0, None), u[:, ::-1]  # largest first
    keep = min(dims, int((variance > _EPS * max(float(variance[0]), 1.0)).sum()))  # drop null directions
    coords = u[:, :keep] * np.sqrt(variance[:keep])
    # Eigenvector signs are arbitrary: make each axis's largest loading positive so views do not flip.
    loadings = centred.T @ coords  # (d_model, keep)
    signs = np.sign(loadings[np.abs(loadings).argmax(axis=0), np.arange(keep)])
    coords = coords * np.where(signs == 0, 1.0, signs)
    total = float(variance.sum())
    explained = variance[:keep] / total if total > _EPS else np.zeros(keep)
    coords, explained = _pad(coords, dims), _pad(explained[None, :], dims)[0]  # fewer points than axes
    return Projection(frozen(coords.astype(np.float32)), frozen(explained.astype(np.float32)))


def _pad(array: np.ndarray, dims: int) -> np.ndarray:
    out = np.zeros((array.shape[0], dims), dtype=np.float64)
    keep = min(dims, array.shape[1])
    out[:, :keep] = array[:, :keep]
    return out


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    """(n, n) cosine similarity between rows of (n, d) vectors; a zero vector scores 0 with everything."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.maximum(norms, _EPS)
    return frozen(np.clip(unit @ unit.T, -1.0, 1.0).astype(np.float32))


def repeated_token_similarity(ids: np.ndarray, hidden_states: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    """For each pair of positions holding the same token id: cosine of their vectors at every layer.

    hidden_states: (layer+1, pos, d_model). Returns {(pos_a, pos_b): (layer+1,) similarities}.
    """
    pairs: dict[tuple[int, int], np.ndarray] = {}
    ids = np.asarray(ids)
    for a in range(len(ids)):
        for b in np.flatnonzero(ids[a + 1 :] == ids[a]) + a + 1:
            va, vb = hidden_states[:, a], hidden_states[:, int(b)]
            cos = (va * vb).sum(axis=1) / np.maximum(np.linalg.norm(va, axis=1) * np.linalg.norm(vb, axis=1), _EPS)
            pairs[(a, int(b))] = frozen(cos.astype(np.float32))
    return pairs


def position_embeddings(model: LoadedModel, n_positions: int) -> np.ndarray | None:
    """(pos, d_model) learned position vectors for the first n positions; None for rotary models."""
    table = _position_table(model.model)
    if table is None:
        return None
    if not 1 <= n_positions <= table.shape[0]:
        raise ValueError(f"Asked for {n_positions:,} positions; this model has {table.shape[0]:,}.")
    return frozen(table[:n_positions].detach().clone())


def _position_table(module: torch.nn.Module) -> torch.Tensor | None:
    # BERT: embeddings.position_embeddings; GPT-2: transformer.wpe. Rotary models have neither.
    for name, child in module.named_modules():
        if isinstance(child, torch.nn.Embedding) and name.split(".")[-1] in ("position_embeddings", "wpe"):
            return child.weight
    return None


def sentence_embeddings(model: LoadedModel, sentences: Sequence[str]) -> SentenceEmbeddings:
    """Mean of the last hidden states over each sentence's real tokens (attention mask), then L2-normalised."""
    sentences = tuple(s.strip() for s in sentences if s and s.strip())
    if not sentences:
        raise ValueError("No sentences: type at least one, one per line.")
    if len(sentences) > MAX_SENTENCES:
        raise ValueError(f"{len(sentences)} sentences; the limit is {MAX_SENTENCES}.")
    for sentence in sentences:
        check_text(sentence)
    batch = pad_batch(model.tokenizer, sentences)  # never padding=: the tokenizer is shared
    if batch["input_ids"].shape[1] > MAX_SENTENCE_TOKENS:
        raise ValueError(f"A sentence has {batch['input_ids'].shape[1]:,} tokens; the limit is {MAX_SENTENCE_TOKENS}.")
    with gate.inference(model):
        output = calls.forward(model, **batch, output_hidden_states=True)
    last = output.hidden_states[-1].cpu()  # (sentence, pos, d_model)
    mask = batch["attention_mask"].unsqueeze(-1).to(last.dtype)
    pooled = (last * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    unit = torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()
    return SentenceEmbeddings(sentences, frozen(unit), cosine_matrix(unit))

"""Embedding geometry: forward pass vectors, neighbours, PCA, cosine, positions, sentence vectors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core import analyze
from core.embeddings import (
    MAX_SENTENCES,
    cosine_matrix,
    embed_text,
    embedding_matrix,
    nearest_neighbours,
    pca,
    position_embeddings,
    repeated_token_similarity,
    sentence_embeddings,
    single_token_id,
    vocab_norms,
)

TEXT = "The river bank was muddy. She opened a bank account."


def test_embed_text_shapes_and_static_embeddings_are_table_rows(tiny_decoder):
    states = embed_text(tiny_decoder, TEXT)
    n, d = len(states.tokens), tiny_decoder.info.d_model
    assert states.embeddings.shape == (n, d)
    assert states.hidden_states.shape == (tiny_decoder.info.layers + 1, n, d)
    np.testing.assert_allclose(states.embeddings, embedding_matrix(tiny_decoder)[states.tokens.ids], atol=1e-6)
    assert not states.hidden_states.flags.writeable
    assert states.vectors_at(-1) is states.embeddings  # -1: the static table rows, no position information
    np.testing.assert_array_equal(states.vectors_at(2), states.hidden_states[2])


def test_embed_text_agrees_with_analyze(tiny_decoder):
    states = embed_text(tiny_decoder, TEXT)
    np.testing.assert_allclose(states.hidden_states, analyze(tiny_decoder, TEXT).hidden_states, atol=1e-4)


def test_rotary_model_adds_no_position_vector_but_bert_does(tiny_llama, tiny_bert):
    llama = embed_text(tiny_llama, TEXT)
    np.testing.assert_allclose(llama.hidden_states[0], llama.embeddings, atol=1e-6)  # layer 0 = raw lookup
    bert = embed_text(tiny_bert, TEXT)
    assert not np.allclose(bert.hidden_states[0], bert.embeddings, atol=1e-3)


def test_embed_text_rejects_texts_past_the_cap(tiny_llama):
    with pytest.raises(ValueError, match="limited to 5 tokens"):
        embed_text(tiny_llama, TEXT, max_tokens=5)


def test_vocab_norms_are_row_lengths(tiny_llama):
    matrix = embedding_matrix(tiny_llama)
    np.testing.assert_allclose(vocab_norms(tiny_llama), np.linalg.norm(matrix, axis=1), rtol=1e-5)
    assert not matrix.flags.writeable


def test_nearest_neighbours_match_brute_force(tiny_llama):
    matrix = embedding_matrix(tiny_llama).astype(np.float64)
    query = 42
    norms = np.linalg.norm(matrix, axis=1)
    assert (norms == 0).sum() == 1  # the padding row is all zeros: it must score 0, not NaN
    cos = np.divide(matrix @ matrix[query], norms * norms[query], out=np.zeros(len(norms)), where=norms > 0)
    cos[query] = -np.inf
    expected = np.argsort(-cos)[:7]
    found = nearest_neighbours(tiny_llama, query, k=7)
    assert found.ids.tolist() == expected.tolist()
    np.testing.assert_allclose(found.scores, cos[expected], atol=1e-5)
    assert query not in found.ids.tolist() and np.isfinite(found.scores).all()
    assert (np.diff(found.scores) <= 1e-7).all()
    assert len(found.labels) == 7 and all(found.labels)


@pytest.mark.parametrize("token_id,k,match", [(-1, 5, "outside"), (10**6, 5, "outside"), (3, 0, "between"),
                                              (3, 101, "between")])
def test_nearest_neighbours_validate_input(tiny_llama, token_id, k, match):
    with pytest.raises(ValueError, match=match):
        nearest_neighbours(tiny_llama, token_id, k)


def test_single_token_id_names_the_split(tiny_llama):
    word = " bank"
    ids = tiny_llama.tokenizer(word, add_special_tokens=False)["input_ids"]
    assert len(ids) == 1  # the tiny tokenizer was trained on sentences with " bank"
    assert single_token_id(tiny_llama, word) == ids[0]
    with pytest.raises(ValueError, match="tokens"):
        single_token_id(tiny_llama, "Xylophonequartz")


def test_pca_recovers_a_plane_exactly():
    rng = np.random.default_rng(0)
    plane = rng.normal(size=(20, 2)) * [5.0, 1.0]
    basis = np.linalg.qr(rng.normal(size=(10, 2)))[0]  # an orthonormal 2-D plane in 10-D
    points = plane @ basis.T + 3.0
    projection = pca(points, dims=2)
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
    projected = np.linalg.norm(projection.coords[:, None] - projection.coords[None], axis=-1)
    np.testing.assert_allclose(projected, distances, rtol=1e-4, atol=1e-4)
    assert projection.explained.sum() == pytest.approx(1.0, abs=1e-5)
    assert projection.explained[0] > projection.explained[1]


def test_pca_matches_svd_up_to_sign_and_ignores_row_order():
    points = np.random.default_rng(3).normal(size=(30, 12)) * np.linspace(3, 0.5, 12)
    centred = points - points.mean(0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    projection = pca(points, 3)
    np.testing.assert_allclose(np.abs(projection.coords), np.abs(u[:, :3] * s[:3]), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(projection.explained, s[:3] ** 2 / (s**2).sum(), rtol=1e-4)
    order = np.random.default_rng(4).permutation(30)
    np.testing.assert_allclose(pca(points[order], 3).coords, projection.coords[order], rtol=1e-4, atol=1e-4)


def test_pca_is_deterministic_and_pads_when_points_are_few():
    points = np.random.default_rng(1).normal(size=(3, 8))
    np.testing.assert_array_equal(pca(points, 3).coords, pca(points.copy(), 3).coords)
    few = pca(points[:2], dims=3)
    assert few.coords.shape == (2, 3)
    assert np.allclose(few.coords[:, 1:], 0)  # two points span one axis only
    with pytest.raises(ValueError, match="2-D or 3-D"):
        pca(points, dims=4)


def test_cosine_matrix_invariants():
    vectors = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [-1.0, 0.0], [0.0, 0.0]])
    cos = cosine_matrix(vectors)
    np.testing.assert_allclose(cos, cos.T)
    assert cos[0, 1] == pytest.approx(1.0) and cos[0, 2] == pytest.approx(0.0) and cos[0, 3] == pytest.approx(-1.0)
    assert (cos[4] == 0).all()  # a zero vector is similar to nothing


def test_repeated_token_similarity_finds_every_pair():
    ids = np.array([5, 1, 5, 2, 1, 5])
    hidden = np.random.default_rng(2).normal(size=(3, 6, 4))
    hidden[0, 2] = hidden[0, 0] * 2.0  # same direction at layer 0
    pairs = repeated_token_similarity(ids, hidden)
    assert set(pairs) == {(0, 2), (0, 5), (2, 5), (1, 4)}
    assert pairs[(0, 2)][0] == pytest.approx(1.0, abs=1e-6)
    a, b = hidden[1, 1], hidden[1, 4]
    assert pairs[(1, 4)][1] == pytest.approx(a @ b / np.linalg.norm(a) / np.linalg.norm(b), abs=1e-6)


def test_position_embeddings_learned_or_none(tiny_bert, tiny_gpt2, tiny_llama):
    bert = position_embeddings(tiny_bert, 10)
    np.testing.assert_array_equal(bert, tiny_bert.model.embeddings.position_embeddings.weight[:10].numpy())
    gpt2 = position_embeddings(tiny_gpt2, 4)
    np.testing.assert_array_equal(gpt2, tiny_gpt2.model.transformer.wpe.weight[:4].numpy())
    assert position_embeddings(tiny_llama, 10) is None
    with pytest.raises(ValueError, match="64"):
        position_embeddings(tiny_bert, 65)


def test_sentence_embeddings_are_mean_pooled_unit_vectors(tiny_bert):
    sentences = ["The river bank was muddy.", "A bank account.", "Text: great film, loved it. Label: positive"]
    result = sentence_embeddings(tiny_bert, sentences)
    np.testing.assert_allclose(np.linalg.norm(result.vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.diag(result.similarity), 1.0, atol=1e-5)
    np.testing.assert_allclose(result.similarity, result.similarity.T, atol=1e-6)
    # Padding must not change a sentence's vector: batched equals one at a time, and equals a manual mean.
    for i, sentence in enumerate(sentences):
        alone = sentence_embeddings(tiny_bert, [sentence]).vectors[0]
        np.testing.assert_allclose(result.vectors[i], alone, atol=1e-5)
    batch = tiny_bert.tokenizer([sentences[1]], return_tensors="pt")
    with torch.inference_mode():
        mean = tiny_bert.model(**batch).last_hidden_state[0].mean(0).numpy()
    np.testing.assert_allclose(result.vectors[1], mean / np.linalg.norm(mean), atol=1e-5)


def test_sentence_embeddings_validate_input(tiny_bert):
    with pytest.raises(ValueError, match="at least one"):
        sentence_embeddings(tiny_bert, ["", "   "])
    with pytest.raises(ValueError, match=str(MAX_SENTENCES)):
        sentence_embeddings(tiny_bert, ["a sentence"] * (MAX_SENTENCES + 1))


@pytest.mark.slow
def test_real_models_known_facts(smollm2, minilm):
    king = single_token_id(smollm2, " king")
    labels = nearest_neighbours(smollm2, king, k=10).labels
    assert "·queen" in labels and "·emperor" in labels
    assert position_embeddings(smollm2, 8) is None  # rotary
    states = embed_text(smollm2, "I sat on the river bank. I opened a bank account.")
    banks = [i for i, label in enumerate(states.tokens.labels) if label == "·bank"]
    curve = repeated_token_similarity(states.tokens.ids, states.hidden_states)[tuple(banks)]
    assert curve[0] == pytest.approx(1.0, abs=1e-5)  # same token, no position vector: identical at first
    assert curve[-1] < 0.7  # context has pulled the two meanings apart
    assert position_embeddings(minilm, 512).shape == (512, 384)
    result = sentence_embeddings(minilm, ["A cat sits on the mat.", "A kitten is sitting on a rug.",
                                          "Stock markets fell sharply today."])
    assert result.similarity[0, 1] > 0.5 > result.similarity[0, 2]

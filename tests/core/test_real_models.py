"""Known facts about the real bundled models (slow: loads SmolLM2 and MiniLM)."""

from __future__ import annotations

import numpy as np
import pytest

import core

pytestmark = pytest.mark.slow


def test_smollm2_card(smollm2):
    info = smollm2.info
    assert (info.layers, info.heads, info.kv_heads, info.d_model) == (30, 9, 3, 576)
    assert (info.vocab_size, info.context_window, info.parameters) == (49_152, 8_192, 134_515_008)
    assert info.kind == "decoder"


def test_smollm2_attention_is_30_by_9(smollm2):
    result = core.analyze(smollm2, "The capital of France is")
    n = len(result.tokens)
    assert result.attention.shape == (30, 9, n, n)
    np.testing.assert_allclose(result.attention.sum(-1), 1.0, atol=1e-4)


def test_minilm_attention_is_6_by_12(minilm):
    result = core.analyze(minilm, "The river bank was muddy.")
    assert result.attention.shape[:2] == (6, 12)
    assert result.tokens.pieces[0] == "[CLS]" and result.tokens.pieces[-1] == "[SEP]"


def test_king_is_near_queen_in_input_embeddings(smollm2):
    matrix = smollm2.model.get_input_embeddings().weight.detach().numpy()
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    king = core.tokenize(smollm2, " king").ids
    assert len(king) == 1
    nearest = np.argsort(-(unit @ unit[king[0]]))[1:11]
    neighbours = [smollm2.tokenizer.decode([i]) for i in nearest]
    assert " queen" in neighbours, neighbours


def test_chat_answer_names_paris(smollm2):
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    prompt = smollm2.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    [answer] = core.generate(smollm2, [prompt], core.GenerationSettings(max_new_tokens=24))
    assert "Paris" in answer.text, answer.text
    assert answer.finish_reason in {"eos", "length"}


def test_multibyte_text_decodes_without_replacement_characters(smollm2):
    text = "Café 中文 👍🏽 👨‍👩‍👧"
    tokens = core.tokenize(smollm2, text)
    assert "".join(tokens.texts) == text
    assert not any("\ufffd" in label for label in tokens.labels)

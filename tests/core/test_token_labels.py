"""One labelling rule: a token looks the same in every page's data (tokens, candidates, neighbours, lens…)."""

from __future__ import annotations

import html

import numpy as np
import pytest

import core
from core import embeddings, lens, prediction, rnn_compare, tokenizers_compare
from core.sampling import GenerationSettings
from core.tokens import token_label, tokenize
from viz.tokens import token_chips_html

TEXT = "The capital of France is Paris.\nThe river bank"


def _whole(tokens) -> list[int]:
    """Positions whose token is a whole character sequence (split characters carry a '(k/n)' marker)."""
    return [i for i in range(len(tokens)) if tokens.part_count[i] == 1]


@pytest.mark.parametrize("name", ["tiny_llama", "tiny_gpt2", "tiny_bert"])
def test_tokens_page_labels_follow_the_one_rule(request, name):
    model = request.getfixturevalue(name)
    tokens = tokenize(model, TEXT)
    for i in _whole(tokens):
        assert tokens.labels[i] == token_label(model.tokenizer, int(tokens.ids[i])), tokens.pieces[i]
    chips = token_chips_html(tokens)
    assert all(html.escape(label) in chips for label in tokens.labels)


def test_every_view_of_a_decoder_labels_a_token_alike(tiny_llama):
    tokenizer = tiny_llama.tokenizer
    analysis = core.analyze(tiny_llama, TEXT)
    by_id = {int(i): label for i, label in zip(analysis.tokens.ids, analysis.tokens.labels)}  # Attention axes
    space_id = tokenize(tiny_llama, " bank", add_special_tokens=False).ids[0]  # ' bank' or a piece of it
    logits = np.array(analysis.next_token_logits)
    logits[space_id] = logits.max() + 10  # make a whitespace-led token the top candidate
    candidates = prediction.top_candidates(tiny_llama, logits, k=5)
    assert candidates["token"][0] == by_id[int(space_id)] and candidates["token"][0].startswith("·")
    table = prediction.distribution_table(tiny_llama, prediction.filter_distribution(logits, GenerationSettings()), 5)
    assert table["token"].tolist() == candidates["token"].tolist()
    assert prediction.token_odds(tiny_llama, logits, " bank").label == by_id[int(space_id)]
    found = embeddings.nearest_neighbours(tiny_llama, int(space_id), k=8)
    assert found.query_label == by_id[int(space_id)]
    assert list(found.labels) == [token_label(tokenizer, i) for i in found.ids]
    result = lens.logit_lens(tiny_llama, analysis)
    expected = [[token_label(tokenizer, i) for i in row] for row in result.top_ids]
    assert [list(row) for row in result.top_labels] == expected
    assert rnn_compare.compare(tiny_llama, TEXT).labels == tokenize(tiny_llama, TEXT, add_special_tokens=False).labels
    for i, label in by_id.items():
        assert token_label(tokenizer, i) == label


def test_completions_carry_the_same_labels(tiny_decoder):
    [done] = core.generate(tiny_decoder, [TEXT], GenerationSettings(max_new_tokens=6))
    assert done.token_labels == tuple(token_label(tiny_decoder.tokenizer, i) for i in done.token_ids)
    assert len(done.token_labels) == len(done.token_ids) == 6


def test_a_byte_piece_alone_shows_its_bytes_everywhere(tiny_llama):
    tokenizer = tiny_llama.tokenizer
    byte_id = tokenizer.convert_tokens_to_ids("ð")  # 0xF0 alone: the first byte of a 4-byte character
    assert token_label(tokenizer, byte_id) == "⟨F0⟩"
    logits = np.zeros(tiny_llama.info.vocab_size, dtype=np.float32)
    logits[byte_id] = 5.0
    assert prediction.top_candidates(tiny_llama, logits, k=1)["token"][0] == "⟨F0⟩"
    assert embeddings.nearest_neighbours(tiny_llama, byte_id, k=1).query_label == "⟨F0⟩"
    # Inside a text the same bytes form a character, which every one of its tokens names.
    tokens = tokenize(tiny_llama, "👍🏽", add_special_tokens=False)
    assert all("\ufffd" not in label and "👍" in "".join(tokens.labels) for label in tokens.labels)


def test_special_tokens_keep_their_piece(tiny_llama, tiny_bert):
    assert token_label(tiny_llama.tokenizer, tiny_llama.tokenizer.eos_token_id) == "<|im_end|>"
    assert token_label(tiny_bert.tokenizer, tiny_bert.tokenizer.cls_token_id) == "[CLS]"


def test_tiktoken_pieces_follow_the_same_rule(tiny_llama):
    view = tokenizers_compare.tiktoken_view("cl100k_base", "a bank\nis")
    assert view.tokens.labels == ("a", "·bank", "↵", "is")
    ours = tokenize(tiny_llama, "a bank\nis", add_special_tokens=False)
    assert "·" in "".join(ours.labels) and "↵" in "".join(ours.labels)

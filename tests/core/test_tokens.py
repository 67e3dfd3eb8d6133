"""core.tokenize: round trips, spans, special flags, visible whitespace, split characters, limits."""

from __future__ import annotations

import pytest

from core.tokens import MAX_CHARS, tokenize

TEXTS = [
    "The capital of France is Paris.",
    "Café, naïve, Straße",
    "中文 👍🏽 é",
    "tabs\tand\nnewlines\n\n  double  spaces",
    "<img src=x onerror=alert(1)> 👨‍👩‍👧",
]


@pytest.mark.parametrize("text", TEXTS)
def test_byte_level_texts_join_back_to_the_text(tiny_decoder, text):
    tokens = tokenize(tiny_decoder, text)
    assert "".join(tokens.texts) == text
    assert tiny_decoder.tokenizer.decode(tokens.ids.tolist(), skip_special_tokens=False) == text
    assert len(tokens.ids) == len(tokens.pieces) == len(tokens.labels) == len(tokens.spans) == len(tokens.special)


@pytest.mark.parametrize("text", TEXTS)
def test_multibyte_characters_never_show_replacement_characters(tiny_decoder, text):
    tokens = tokenize(tiny_decoder, text)
    assert not any("\ufffd" in label for label in tokens.labels)
    assert not any("\ufffd" in piece for piece in tokens.texts)


def test_split_character_is_labelled_part_by_part(tiny_llama):
    tokens = tokenize(tiny_llama, "👍🏽")  # two rare 4-byte characters: the tiny vocabulary splits them
    split = [i for i in range(len(tokens)) if tokens.part_count[i] > 1]
    assert split, tokens.pieces
    for i in split:
        assert f"({tokens.part_index[i]}/{tokens.part_count[i]})" in tokens.labels[i]
        assert tokens.byte_hex[i]  # the raw bytes are available for the tooltip
    # Only the first part carries the character's text, so joining never duplicates it.
    assert all(tokens.texts[i] == "" for i in split if tokens.part_index[i] > 1)
    assert "".join(tokens.texts[i] for i in split if tokens.part_index[i] == 1) == "👍🏽"


@pytest.mark.parametrize("text", TEXTS)
def test_spans_point_at_the_token_text(tiny_decoder, text):
    tokens = tokenize(tiny_decoder, text)
    starts = tokens.spans[:, 0]
    assert (starts[1:] >= starts[:-1]).all()
    assert (tokens.spans[:, 1] <= len(text)).all()
    for i in range(len(tokens)):
        if tokens.part_index[i] == 1 and not tokens.special[i]:
            # A character split over several tokens: the group spans from its first to its last token.
            last = i + int(tokens.part_count[i]) - 1
            assert text[tokens.spans[i, 0] : tokens.spans[last, 1]] == tokens.texts[i], (i, tokens.pieces[i])


def test_bert_marks_cls_and_sep_as_special(tiny_bert):
    text = "The river bank was muddy."
    tokens = tokenize(tiny_bert, text)
    assert tokens.pieces[0] == "[CLS]" and tokens.pieces[-1] == "[SEP]"
    assert tokens.special.tolist() == [True] + [False] * (len(tokens) - 2) + [True]
    for i in range(1, len(tokens) - 1):
        start, end = tokens.spans[i]
        assert text[start:end].lower() == tokens.texts[i].lower()
    assert tokenize(tiny_bert, text, add_special_tokens=False).special.sum() == 0


def test_labels_show_whitespace(tiny_llama):
    tokens = tokenize(tiny_llama, "a b\nc\td")
    joined = "".join(tokens.labels)
    assert "·" in joined and "↵" in joined and "⇥" in joined
    assert not any(char in joined for char in " \n\t")


@pytest.mark.parametrize("text", ["", "   \n", "x" * (MAX_CHARS + 1)])
def test_empty_or_huge_text_is_a_value_error_naming_the_problem(tiny_llama, text):
    with pytest.raises(ValueError, match="empty|120,000"):
        tokenize(tiny_llama, text)


def test_text_at_the_limit_is_accepted(tiny_llama):
    assert len(tokenize(tiny_llama, "ab " * (MAX_CHARS // 3))) > 0


@pytest.mark.slow
def test_real_smollm2_round_trips_multilingual_text(smollm2):
    text = "中文 👍🏽 é, Straße\n<|im_start|> is typed"
    tokens = tokenize(smollm2, text)
    assert smollm2.tokenizer.decode(tokens.ids.tolist(), skip_special_tokens=False) == text
    assert not any("\ufffd" in label for label in tokens.labels)
    assert any(tokens.part_count > 1)  # the emoji skin tone is split over several byte tokens

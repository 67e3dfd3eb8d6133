"""Turn text into tokens with everything a person needs to see them: ids, pieces, labels, spans."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from core.models import LoadedModel

MAX_CHARS = 120_000
WHITESPACE_MARKS = {" ": "·", "\n": "↵", "\t": "⇥", "\r": "␍", "\u200d": "⟨ZWJ⟩", "\ufe0f": "⟨VS16⟩"}
_GROUP_LIMIT = 8  # a UTF-8 character is at most 4 bytes; longer runs are invalid bytes


@dataclass(frozen=True)
class Tokenization:
    """One text as the model reads it. Every array has one entry per position."""

    text: str
    ids: np.ndarray  # (pos,) int64
    pieces: tuple[str, ...]  # raw vocabulary pieces, e.g. "Ġworld", "##ing"
    texts: tuple[str, ...]  # decoded text per token; a split character sits on its first token
    labels: tuple[str, ...]  # display labels: visible whitespace, "(1/3)" on split characters
    spans: np.ndarray  # (pos, 2) character offsets [start, end) into text
    special: np.ndarray  # (pos,) bool: added by the tokenizer, not typed by the user
    part_index: np.ndarray  # (pos,) 1-based index of this token within a split character
    part_count: np.ndarray  # (pos,) tokens sharing that character; 1 when the token is whole
    byte_hex: tuple[str, ...]  # raw bytes of byte-level pieces, e.g. "F0 9F", else ""

    def __len__(self) -> int:
        return len(self.ids)


def check_text(text: str) -> None:
    """Raise ValueError for text no page can use (empty, or beyond the character cap)."""
    if not text or not text.strip():
        raise ValueError("Text is empty: type a prompt first.")
    if len(text) > MAX_CHARS:
        raise ValueError(f"Text has {len(text):,} characters; the limit is {MAX_CHARS:,}.")


def show_whitespace(text: str) -> str:
    """Make spaces, newlines and tabs visible, so ' the' and 'the' look different."""
    return "".join(WHITESPACE_MARKS.get(char, char) for char in text)


def tokenize(model: LoadedModel, text: str, add_special_tokens: bool = True) -> Tokenization:
    """Tokenize text with the model's own tokenizer. Raises ValueError on empty or huge text."""
    return tokenize_with(model.tokenizer, text, add_special_tokens)


def tokenize_with(tokenizer, text: str, add_special_tokens: bool = True) -> Tokenization:
    """Tokenize text with any Hugging Face fast tokenizer (no model needed)."""
    check_text(text)
    encoded = tokenizer(
        text, add_special_tokens=add_special_tokens, return_offsets_mapping=True, verbose=False
    )
    ids = np.asarray(encoded["input_ids"], dtype=np.int64)
    pieces = tuple(tokenizer.convert_ids_to_tokens(ids.tolist()))
    special_ids = set(tokenizer.all_special_ids)
    special = np.array([i in special_ids for i in ids.tolist()], dtype=bool)
    spans = np.asarray(encoded["offset_mapping"], dtype=np.int64).reshape(-1, 2)
    if is_byte_level(tokenizer):
        texts, labels, index, count, hexes = _byte_level_texts(pieces, special)
    else:
        texts = tuple(_span_text(text, span, piece, sp) for span, piece, sp in zip(spans, pieces, special))
        labels = _piece_labels(pieces, special)
        index, count, hexes = np.ones(len(ids), int), np.ones(len(ids), int), ("",) * len(ids)
    return Tokenization(text, ids, pieces, texts, labels, spans, special, index, count, hexes)


def token_label(tokenizer, token_id: int) -> str:
    """How one vocabulary token is shown on every page: the label it gets in a Tokenization of its own.

    Whitespace is visible (' the' → '·the'), special tokens keep their piece, and a byte-level token
    that is only part of a character shows its bytes ('⟨F0 9F⟩') instead of a replacement character.
    """
    piece = tokenizer.convert_ids_to_tokens(int(token_id))
    special = np.array([int(token_id) in set(tokenizer.all_special_ids)])
    if is_byte_level(tokenizer):
        return _byte_level_texts((piece,), special)[1][0]
    return _piece_labels((piece,), special)[0]


def from_byte_chunks(text: str, ids: np.ndarray, chunks: list[bytes]) -> Tokenization:
    """A Tokenization from a byte-level tokenizer outside Hugging Face (tiktoken): ids and their UTF-8 bytes.

    Pieces are written in GPT-2's printable byte alphabet and labelled by the same rule as every other token.
    """
    to_char = {byte: char for char, byte in _unicode_to_byte().items()}
    pieces = tuple("".join(to_char[b] for b in chunk) for chunk in chunks)
    special = np.zeros(len(ids), dtype=bool)
    texts, labels, index, count, hexes = _byte_level_texts(pieces, special)
    return Tokenization(text, ids, pieces, texts, labels, _byte_spans(text, chunks), special, index, count, hexes)


def _byte_spans(text: str, raw: list[bytes]) -> np.ndarray:
    """(pos, 2) character offsets [start, end) of tokens given as UTF-8 byte chunks."""
    char_bytes = np.array([len(c.encode("utf-8")) for c in text], dtype=np.int64)
    char_start = np.concatenate([[0], np.cumsum(char_bytes)])  # byte offset where each character starts
    ends = np.cumsum([len(chunk) for chunk in raw]).astype(np.int64)
    starts = ends - np.array([len(chunk) for chunk in raw], dtype=np.int64)
    # A token starting inside a character belongs to that character; a token ending inside one reaches its end.
    span_start = np.searchsorted(char_start, starts, side="right") - 1
    span_end = np.searchsorted(char_start, ends, side="left")
    return np.stack([span_start, span_end], axis=1).reshape(-1, 2)


def _piece_labels(pieces, special) -> tuple[str, ...]:
    # Tokenizers that are not byte-level (WordPiece, SentencePiece) show their pieces as they are.
    return tuple(piece if sp else show_whitespace(piece) for piece, sp in zip(pieces, special))


def is_byte_level(tokenizer) -> bool:
    """True for GPT-2-style byte-level BPE (pieces are bytes mapped to printable characters)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return backend is not None and "ByteLevel" in repr(backend.decoder)


@lru_cache(maxsize=1)
def _unicode_to_byte() -> dict[str, int]:
    # GPT-2's reversible byte <-> printable-character table: printable bytes map to themselves,
    # the rest to code points from 256 upwards, in byte order.
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), 256)]
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars)}


def _piece_bytes(piece: str) -> bytes | None:
    table = _unicode_to_byte()
    if not all(char in table for char in piece):
        return None
    return bytes(table[char] for char in piece)


def _byte_level_texts(pieces, special):
    """Decode byte-level pieces, grouping tokens that only together form valid UTF-8."""
    n = len(pieces)
    texts, labels = [""] * n, [""] * n
    index, count = np.ones(n, int), np.ones(n, int)
    raw = [None if sp else _piece_bytes(p) for p, sp in zip(pieces, special)]
    hexes = tuple(" ".join(f"{b:02X}" for b in r) if r is not None else "" for r in raw)
    group: list[int] = []

    def flush(decoded: str | None) -> None:
        for k, position in enumerate(group):
            if decoded is None:  # bytes that never form a character: show them as bytes
                texts[position] = labels[position] = f"⟨{hexes[position]}⟩"
                continue
            texts[position] = decoded if k == 0 else ""
            marker = f" ({k + 1}/{len(group)})" if len(group) > 1 else ""
            labels[position] = show_whitespace(decoded) + marker
            index[position], count[position] = k + 1, len(group)
        group.clear()

    for position, piece in enumerate(pieces):
        if raw[position] is None:
            flush(None)
            texts[position] = labels[position] = piece
            continue
        group.append(position)
        try:
            flush(b"".join(raw[g] for g in group).decode("utf-8"))
        except UnicodeDecodeError:
            if len(group) >= _GROUP_LIMIT:
                flush(None)
    flush(None)
    return tuple(texts), tuple(labels), index, count, hexes


def _span_text(text: str, span, piece: str, special: bool) -> str:
    start, end = int(span[0]), int(span[1])
    if special or end <= start:
        return piece
    return text[start:end]

"""The fine-tuning data: a held-out split made first, and training rows with the loss on the label tokens only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.prompting import Example, build_prompt, check_label_caps, check_token_caps, normalize_label
from core.prompting.label_scoring import encode_pair

MAX_TRAIN_EXAMPLES = 200  # rows trained on: a few epochs stay a minute or two of CPU on SmolLM2
MAX_EXAMPLE_TOKENS = 128  # prompt plus label per training row (the presets' rows are under 40)
MAX_LABELS = 10  # distinct labels: a class name each, every one scored after every held-out prompt
IGNORE = -100  # the label id torch's cross-entropy skips: prompt tokens carry no loss


@dataclass(frozen=True)
class Split:
    """The labelled rows split once, before any training: the held-out rows are never trained on."""

    train: tuple[Example, ...]
    heldout: tuple[Example, ...]
    labels: tuple[str, ...]  # distinct labels, first spelling of each, in first-seen order


@dataclass(frozen=True)
class Batch:
    """Training rows padded on the right: ids, attention mask, and targets (IGNORE outside the label)."""

    ids: torch.Tensor  # (batch, pos)
    mask: torch.Tensor  # (batch, pos)
    targets: torch.Tensor  # (batch, pos) the token to predict at each position, or IGNORE


def split_rows(rows: Sequence[Example], heldout_fraction: float = 0.4, seed: int = 0) -> Split:
    """Split labelled rows per label (stratified, seeded) so every label is in both parts; ValueError on bad sets."""
    cleaned = _clean(rows)
    labels = _labels(cleaned)
    if not 0.1 <= heldout_fraction <= 0.6:
        raise ValueError(f"The held-out share must be between 10% and 60%; got {heldout_fraction:.0%}.")
    rng = np.random.default_rng(seed)
    train, heldout = [], []
    for label in labels:
        members = [row for row in cleaned if normalize_label(row[1]) == normalize_label(label)]
        if len(members) < 2:
            raise ValueError(f"The label {label!r} has one row: each label needs at least 2 (one to train on, "
                             "one held out).")
        order = rng.permutation(len(members))
        cut = min(max(1, round(len(members) * heldout_fraction)), len(members) - 1)
        heldout += [members[i] for i in order[:cut]]
        train += [members[i] for i in order[cut:]]
    if len(train) > MAX_TRAIN_EXAMPLES:
        raise ValueError(f"{len(train):,} training rows; the limit is {MAX_TRAIN_EXAMPLES:,}. Use a smaller set.")
    keep = {row: i for i, row in enumerate(cleaned)}  # back to the table's order: the split is the only shuffle
    return Split(tuple(sorted(train, key=keep.get)), tuple(sorted(heldout, key=keep.get)), labels)


def _clean(rows: Sequence[Example]) -> list[Example]:
    cleaned = list(dict.fromkeys((str(t).strip(), str(label).strip()) for t, label in rows))
    cleaned = [(t, label) for t, label in cleaned if t or label]
    if not cleaned:
        raise ValueError("The labelled set is empty: add rows with a text and a label.")
    for number, (text, label) in enumerate(cleaned, start=1):
        if not text or not label:
            raise ValueError(f"Row {number} needs both a text and a label.")
    return cleaned


def _labels(rows: Sequence[Example]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for _, label in rows:
        seen.setdefault(normalize_label(label), label)
    if len(seen) < 2:
        raise ValueError(f"Every row has the label {next(iter(seen.values()))!r}: fine-tuning needs at least "
                         "2 labels (with one, there is nothing to learn).")
    if len(seen) > MAX_LABELS:
        raise ValueError(f"The set has {len(seen)} labels; the limit is {MAX_LABELS} (each is a class name).")
    return tuple(seen.values())


def encode_rows(tokenizer, instruction: str, rows: Sequence[Example], fmt: str = "plain") -> list[tuple[list, list]]:
    """(prompt ids, label ids) per row: the zero-shot prompt of the Prompt strategies page, then " " + label."""
    check_label_caps(tokenizer, [(f"Row {n}", label) for n, (_, label) in enumerate(rows, start=1)])
    encoded = []
    for number, (text, label) in enumerate(rows, start=1):
        check_token_caps(tokenizer, [], text)
        prompt = build_prompt(instruction, [], text, fmt, tokenizer)
        context, continuation = encode_pair(tokenizer, prompt, (" " if fmt == "plain" else "") + label)
        if len(context) + len(continuation) > MAX_EXAMPLE_TOKENS:
            raise ValueError(f"Row {number} has {len(context) + len(continuation):,} tokens with its prompt; the "
                             f"limit is {MAX_EXAMPLE_TOKENS} per training example. Shorten it or the instruction.")
        encoded.append((context, continuation))
    return encoded


def make_batch(encoded: Sequence[tuple[list, list]], pad_id: int) -> Batch:
    """Right-padded rows whose targets are the label tokens only (the prompt and the padding carry no loss)."""
    width = max(len(c) + len(t) for c, t in encoded) - 1  # the last label token is predicted, never input
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    targets = torch.full((len(encoded), width), IGNORE, dtype=torch.long)
    for row, (context, label) in enumerate(encoded):
        whole = context + label
        ids[row, : len(whole) - 1] = torch.tensor(whole[:-1])
        mask[row, : len(whole) - 1] = 1
        # position p predicts token p + 1: the label's tokens are predicted from len(context) - 1 on
        targets[row, len(context) - 1 : len(whole) - 1] = torch.tensor(label)
    return Batch(ids, mask, targets)

"""Pad a batch of texts to one length without touching the shared tokenizer's settings.

A fast tokenizer called with `padding=` or `truncation=` switches its Rust backend's padding on or
off for that call (`enable_padding` / `no_padding`). The backend is shared by every session, so
two threads doing that at once race: one thread's batch comes back unpadded, or the backend
raises "Already borrowed". Here every call encodes without padding or truncation (a read-only
use of the backend once `freeze_settings` has cleared both) and pads in numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

PADDING_SIDES = ("left", "right")


def freeze_settings(tokenizer) -> None:
    """Clear backend padding/truncation once, at load, so no later plain call needs to change them."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return
    if backend.padding is not None:
        backend.no_padding()
    if backend.truncation is not None:
        backend.no_truncation()


def pad_batch(
    tokenizer, texts: Sequence[str], side: str = "right", add_special_tokens: bool = True
) -> dict[str, torch.Tensor]:
    """input_ids and attention_mask, each (batch, pos) int64, padded with the pad token on one side."""
    if side not in PADDING_SIDES:
        raise ValueError(f"Padding side must be one of {PADDING_SIDES}, not '{side}'.")
    encoded = tokenizer(list(texts), add_special_tokens=add_special_tokens, verbose=False)["input_ids"]
    width = max((len(ids) for ids in encoded), default=0)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    input_ids = np.full((len(encoded), width), pad, dtype=np.int64)
    mask = np.zeros((len(encoded), width), dtype=np.int64)
    for row, ids in enumerate(encoded):
        columns = slice(width - len(ids), width) if side == "left" else slice(0, len(ids))
        input_ids[row, columns] = ids
        mask[row, columns] = 1
    return {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}

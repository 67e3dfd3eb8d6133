"""Head ablation: switch attention heads off (zero or mean) for one request, one head or all of them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.analysis import check_length, softmax
from core.models import LoadedModel
from core.runtime.hooks import Hook, head_outputs, residual_stream, run_from, run_with_hooks
from core.tokens import tokenize

MAX_WHY_TOKENS = 64  # every "Why this token?" computation runs on at most this many prompt tokens
MAX_BATCH_TOKENS = 2048  # rows × tokens per batched forward (ablation scan, patching): ~0.5 s on SmolLM2
ABLATIONS = ("zero", "mean")
Progress = Callable[[float, str], None]
Head = tuple[int, int]  # (layer, head)


def prompt_ids(model: LoadedModel, text: str, cap: int = MAX_WHY_TOKENS) -> tuple[int, ...]:
    """Token ids of text (special tokens as the tokenizer adds them); ValueError past the cap."""
    if not model.info.is_decoder:
        raise ValueError(f"{model.info.name} is an encoder: it does not predict a next token.")
    ids = tokenize(model, text).ids
    check_length(model, len(ids), cap)
    return tuple(int(i) for i in ids)


def _head_editor(rows: Sequence[Sequence[Head]], layer: int, fill: np.ndarray | None):
    """A hook on layer's head outputs (batch, pos, head, head_dim) that overwrites row b's chosen heads
    with fill (or zeros)."""
    edits = [(row, head) for row, heads in enumerate(rows) for (lay, head) in heads if lay == layer]
    if not edits:
        return None

    def hook(z: torch.Tensor, site: str) -> torch.Tensor:
        z = z.clone()  # never write into the model's own tensor
        for row, head in edits:
            z[row, :, head] = 0.0 if fill is None else torch.as_tensor(fill[layer, head], device=z.device)
        return z

    return hook


def _head_hooks(model: LoadedModel, rows: Sequence[Sequence[Head]], fill: np.ndarray | None,
                start: int = 0) -> list[Hook]:
    """(site, hook) for every layer from start on whose heads some row edits."""
    return [(f"blocks.{layer}.attn.hook_z", hook) for layer in range(start, model.info.layers)
            if (hook := _head_editor(rows, layer, fill)) is not None]


def run_ablated(model: LoadedModel, ids: Sequence[int], rows: Sequence[Sequence[Head]],
                fill: np.ndarray | None = None, keep: int = 1) -> np.ndarray:
    """(row, keep, vocab) logits: row b is the prompt with heads rows[b] replaced, in one batch.

    fill: what replaces a head's output, indexed [layer, head]: (layer, head, head_dim) means for
    mean ablation, (layer, head, pos, head_dim) another run's outputs for patching; None zeroes.
    """
    fill = None if fill is None else np.ascontiguousarray(fill, dtype=np.float32)
    return run_with_hooks(model, [list(ids)] * len(rows), _head_hooks(model, rows, fill), keep)


def head_means(model: LoadedModel, ids: Sequence[int]) -> np.ndarray:
    """(layer, head, head_dim) each head's output averaged over the prompt's positions.

    Mean ablation replaces a head by this average: it removes what the head says about *this*
    position while keeping its typical output (no dataset needed; stated on the page).
    """
    return head_outputs(model, ids).mean(axis=1)


@dataclass(frozen=True)
class Ablation:
    """The next-token distribution before and after switching some heads off."""

    heads: tuple[Head, ...]
    mode: str
    before: np.ndarray  # (vocab,) probabilities
    after: np.ndarray  # (vocab,) probabilities


def ablate_heads(model: LoadedModel, ids: Sequence[int], heads: Sequence[Head], mode: str = "zero") -> Ablation:
    """Next-token probabilities with and without the chosen heads (both rows in one batch)."""
    _check_heads(model, heads, mode)
    means = head_means(model, ids) if mode == "mean" else None
    logits = run_ablated(model, ids, [(), tuple(heads)], means)[:, -1]
    return Ablation(tuple(heads), mode, softmax(logits[0]), softmax(logits[1]))


def _check_heads(model: LoadedModel, heads: Sequence[Head], mode: str) -> None:
    if mode not in ABLATIONS:
        raise ValueError(f"Unknown ablation '{mode}'; choose one of {', '.join(ABLATIONS)}.")
    for layer, head in heads:
        if not (0 <= layer < model.info.layers and 0 <= head < model.info.heads):
            raise ValueError(f"No head {layer}.{head}: layers are 0–{model.info.layers - 1}, "
                             f"heads 0–{model.info.heads - 1}.")


def all_heads(model: LoadedModel) -> list[Head]:
    return [(layer, head) for layer in range(model.info.layers) for head in range(model.info.heads)]


def scan_heads(model: LoadedModel, ids: Sequence[int], target: int, mode: str = "zero",
               progress: Progress | None = None, rows_per_batch: int | None = None,
               reuse_prefix: bool = True) -> np.ndarray:
    """(layer, head) change in log p(target) when that head alone is ablated (negative = it helped).

    Cost cap: layers × heads ablated copies of a prompt of at most MAX_WHY_TOKENS tokens, batched so
    a batch holds about MAX_BATCH_TOKENS tokens; the gate is taken once per batch.
    """
    _check_heads(model, [], mode)
    check_length(model, len(ids), MAX_WHY_TOKENS)
    means = head_means(model, ids) if mode == "mean" else None
    clean = log_probs(run_ablated(model, ids, [()], means)[:, -1])[0, target]
    logits = run_in_batches(model, ids, [(h,) for h in all_heads(model)], means, progress, rows_per_batch,
                            reuse_prefix)
    changes = log_probs(logits)[:, target] - clean
    return changes.reshape(model.info.layers, model.info.heads)


def run_in_batches(model: LoadedModel, ids: Sequence[int], rows: Sequence[Sequence[Head]],
                   fill: np.ndarray | None = None, progress: Progress | None = None,
                   rows_per_batch: int | None = None, reuse_prefix: bool = True, keep: int | None = None,
                   reduce: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """(row, vocab) last-position logits of the prompt with heads rows[b] replaced, many rows a batch.

    Batches hold about MAX_BATCH_TOKENS tokens and rows whose first edited layer lies within a few
    layers of each other; with reuse_prefix each batch starts from the unedited residual stream at
    its first edited layer instead of recomputing the layers before it (the result is the same).
    keep: logits of the last `keep` positions, (row, keep, vocab); reduce maps each batch's logits
    to something smaller before the batches are joined (the loss scan keeps one loss per row).
    """
    size = rows_per_batch or max(1, MAX_BATCH_TOKENS // len(ids))
    resid = residual_stream(model, ids) if reuse_prefix else None
    span = max(1, model.info.layers // 8)  # later rows of a batch redo up to span - 1 layers
    out, start = [], 0
    while start < len(rows):
        first, end = _first_layer(rows[start]), start + 1
        while end < len(rows) and end - start < size and _first_layer(rows[end]) < first + span:
            end += 1
        logits = _run_chunk(model, ids, rows[start:end], fill, resid, keep)
        out.append(logits if reduce is None else reduce(logits))
        start = end
        if progress is not None:
            progress(start / len(rows), f"Ran {start} of {len(rows)} edited copies of the prompt")
    return np.concatenate(out)


def _first_layer(row: Sequence[Head]) -> int:
    return min((layer for layer, _ in row), default=0)


def _run_chunk(model: LoadedModel, ids: Sequence[int], rows: Sequence[Sequence[Head]],
               fill: np.ndarray | None, resid: np.ndarray | None, keep: int | None) -> np.ndarray:
    if resid is None:
        logits = run_ablated(model, ids, rows, fill, keep=keep or 1)
        return logits[:, -1] if keep is None else logits
    start = min(_first_layer(row) for row in rows)
    values = None if fill is None else np.ascontiguousarray(fill, dtype=np.float32)
    hidden = np.repeat(resid[start][None], len(rows), axis=0)  # (row, pos, d_model)
    return run_from(model, start, hidden, _head_hooks(model, rows, values, start), keep=keep)


def log_probs(logits: np.ndarray) -> np.ndarray:
    """log_softmax over the last axis, in float64."""
    shifted = logits.astype(np.float64) - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))

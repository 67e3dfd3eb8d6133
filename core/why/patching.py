"""Activation patching ("causal tracing", Meng et al. 2022): which activations carry the answer.

Run a clean prompt and a corrupted one of equal token length. Copy one clean activation into the
corrupted run (the residual stream entering a layer at one position, or one head's output at every
position) and measure how much of the clean-vs-corrupt logit difference comes back:
restored = (patched − corrupt) / (clean − corrupt), 1 = fully restored, 0 = no effect.
The difference is logit(clean answer) − logit(corrupted answer) at the last position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.models import LoadedModel
from core.runtime.hooks import head_outputs, residual_stream, run_from, run_with_hooks
from core.tokens import tokenize
from core.why import interventions as iv

MAX_PATCH_TOKENS = 32  # cost cap: layers × tokens patched runs (960 on SmolLM2) of ≤ 32 tokens each


@dataclass(frozen=True)
class Patching:
    """Restored share of the logit difference per patched activation."""

    clean_ids: tuple[int, ...]
    corrupt_ids: tuple[int, ...]
    answer: int  # the clean prompt's top next token
    foil: int  # the corrupted prompt's top next token
    clean_diff: float  # logit(answer) − logit(foil) on the clean run
    corrupt_diff: float  # the same on the corrupted run
    residual: np.ndarray  # (layer, pos) restored share, patching the residual entering each layer
    heads: np.ndarray | None  # (layer, head) restored share, patching each head at every position


def check_pair(model: LoadedModel, clean: str, corrupt: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Token ids of both prompts; ValueError showing both tokenizations when their lengths differ."""
    clean_ids = iv.prompt_ids(model, clean, MAX_PATCH_TOKENS)
    corrupt_ids = iv.prompt_ids(model, corrupt, MAX_PATCH_TOKENS)
    if len(clean_ids) != len(corrupt_ids):
        show = lambda text: " | ".join(tokenize(model, text).labels)  # noqa: E731
        raise ValueError(
            f"Patching needs prompts of equal token length; the clean one has {len(clean_ids)} tokens "
            f"[{show(clean)}] and the corrupted one {len(corrupt_ids)} [{show(corrupt)}]. "
            "Change a word so both split into the same number of tokens."
        )
    return clean_ids, corrupt_ids


def run_residual_patched(model: LoadedModel, ids: Sequence[int], rows: Sequence[tuple[int, Sequence[int]]],
                         source: np.ndarray) -> np.ndarray:
    """(row, vocab) last logits; row b runs ids with source[layer, positions] written into the
    residual entering `layer`, for (layer, positions) = rows[b]. source: (layer, pos, d_model).

    A full forward per row: the reference that patch()'s prefix-reusing runs are tested against."""
    clean = torch.as_tensor(np.asarray(source, dtype=np.float32))

    def patcher(layer):
        edits = [(row, list(pos)) for row, (lay, pos) in enumerate(rows) if lay == layer]

        def hook(hidden: torch.Tensor, site: str) -> torch.Tensor:
            hidden = hidden.clone()  # (batch, pos, d_model)
            for row, positions in edits:
                hidden[row, positions] = clean[layer, positions].to(hidden.device)
            return hidden
        return hook if edits else None

    hooks = [(f"blocks.{layer}.hook_resid_pre", hook) for layer in range(model.info.layers)
             if (hook := patcher(layer)) is not None]
    return run_with_hooks(model, [list(ids)] * len(rows), hooks)[:, -1]


def patch(model: LoadedModel, clean: str, corrupt: str, per_head: bool = True, progress: iv.Progress | None = None,
          answer: int | None = None, foil: int | None = None) -> Patching:
    """Patch the clean residual at every (layer, position), and each head, into the corrupted run.

    answer / foil default to the clean and the corrupted prompt's top next tokens.
    """
    clean_ids, corrupt_ids = check_pair(model, clean, corrupt)
    n, layers = len(clean_ids), model.info.layers
    source = residual_stream(model, clean_ids)  # (layer, pos, d_model)
    base = run_residual_patched(model, clean_ids, [(0, [])], source)[0]
    broken = run_residual_patched(model, corrupt_ids, [(0, [])], source)[0]
    answer = int(base.argmax()) if answer is None else answer
    foil = int(broken.argmax()) if foil is None else foil
    if answer == foil:
        raise ValueError("Both prompts make the same top prediction, so there is no difference to restore. "
                         "Change the corrupted prompt so its answer differs.")
    diff = lambda logits: logits[..., answer] - logits[..., foil]  # noqa: E731
    clean_diff, corrupt_diff = float(diff(base)), float(diff(broken))
    share = lambda logits: (diff(logits) - corrupt_diff) / (clean_diff - corrupt_diff)  # noqa: E731
    restored = []
    broken_resid = residual_stream(model, corrupt_ids)
    for layer in range(layers):  # one batch per layer: row p patches position p, starting at that layer
        hidden = np.repeat(broken_resid[layer][None], n, axis=0)  # (pos as row, pos, d_model)
        hidden[range(n), range(n)] = source[layer]
        restored.append(share(run_from(model, layer, hidden)))
        if progress is not None:
            progress((layer + 1) / layers * (0.5 if per_head else 1.0),
                     f"Patched layer {layer + 1} of {layers} at each of {n} positions")
    heads = None
    if per_head:
        fill = head_outputs(model, clean_ids).transpose(0, 2, 1, 3)  # (layer, head, pos, head_dim)
        half = None if progress is None else (lambda f, msg: progress(0.5 + f / 2, msg))
        logits = iv.run_in_batches(model, corrupt_ids, [(h,) for h in iv.all_heads(model)], fill, half)
        heads = share(logits).reshape(layers, model.info.heads)
    return Patching(clean_ids, corrupt_ids, answer, foil, clean_diff, corrupt_diff,
                    np.concatenate(restored).reshape(layers, n), heads)


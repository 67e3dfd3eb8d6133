"""Hooks that read or edit a decoder's internals for one request, and head ablation built on them.

Every hook lives only inside `hooked(...)`, which runs inside the model's inference gate and removes
the hooks in `finally`: no other session's forward pass can see them, and none outlives the request
(the pattern of TransformerLens's `run_with_hooks`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from core import gate
from core.analysis import check_length, softmax
from core.models import LoadedModel
from core.tokens import tokenize

MAX_WHY_TOKENS = 64  # every "Why this token?" computation runs on at most this many prompt tokens
MAX_BATCH_TOKENS = 2048  # rows × tokens per batched forward (ablation scan, patching): ~0.5 s on SmolLM2
ABLATIONS = ("zero", "mean")
Progress = Callable[[float, str], None]
Head = tuple[int, int]  # (layer, head)


@dataclass(frozen=True)
class Arch:
    """Where a decoder keeps the parts the interventions touch (Llama-style or GPT-2)."""

    blocks: tuple[torch.nn.Module, ...]  # one per layer; input = residual stream before the layer
    attn: tuple[torch.nn.Module, ...]  # attention module per layer (output[0] = its residual write)
    out_proj: tuple[torch.nn.Module, ...]  # attention output projection; its input is heads side by side
    mlp: tuple[torch.nn.Module, ...]
    final_norm: torch.nn.Module
    unembed: torch.Tensor  # (vocab, d_model)
    heads: int
    head_dim: int
    fused_conv: bool  # GPT-2's Conv1D stores W_O as (in, out); Linear stores (out, in)


def arch(model: LoadedModel) -> Arch:
    """The decoder's parts; ValueError for an architecture these views do not know."""
    net = model.model
    info = model.info
    if hasattr(net, "model") and hasattr(net.model, "layers"):  # Llama, Mistral, Qwen, SmolLM2
        blocks = tuple(net.model.layers)
        attn = tuple(b.self_attn for b in blocks)
        out_proj, conv, norm = tuple(a.o_proj for a in attn), False, net.model.norm
    elif hasattr(net, "transformer") and hasattr(net.transformer, "h"):  # GPT-2
        blocks = tuple(net.transformer.h)
        attn = tuple(b.attn for b in blocks)
        out_proj, conv, norm = tuple(a.c_proj for a in attn), True, net.transformer.ln_f
    else:
        raise ValueError(f"'Why this token?' supports Llama-style and GPT-2 decoders; {info.architecture} is neither.")
    return Arch(blocks, attn, out_proj, tuple(b.mlp for b in blocks), norm,
                net.get_output_embeddings().weight, info.heads, info.head_dim, conv)


def head_weight(parts: Arch, layer: int, head: int) -> torch.Tensor:
    """(head_dim, d_model) slice of W_O that maps one head's output into the residual stream."""
    weight = parts.out_proj[layer].weight
    rows = slice(head * parts.head_dim, (head + 1) * parts.head_dim)
    return weight[rows] if parts.fused_conv else weight[:, rows].T


def prompt_ids(model: LoadedModel, text: str, cap: int = MAX_WHY_TOKENS) -> tuple[int, ...]:
    """Token ids of text (special tokens as the tokenizer adds them); ValueError past the cap."""
    if not model.info.is_decoder:
        raise ValueError(f"{model.info.name} is an encoder: it does not predict a next token.")
    ids = tokenize(model, text).ids
    check_length(model, len(ids), cap)
    return tuple(int(i) for i in ids)


@contextmanager
def hooked(model: LoadedModel, pre: Sequence[tuple] = (), post: Sequence[tuple] = (),
           grad: bool = False) -> Iterator[None]:
    """Hold the gate, register (module, fn) pre-/forward hooks, and always remove them.

    grad=False runs under inference_mode; grad=True enables autograd (gradients flow to the
    inputs only: the shared model's parameters keep requires_grad False).
    """
    handles = []
    with gate.hold(model), (torch.enable_grad() if grad else torch.inference_mode()):
        try:
            for module, fn in pre:
                handles.append(module.register_forward_pre_hook(fn))
            for module, fn in post:
                handles.append(module.register_forward_hook(fn))
            yield
        finally:
            for handle in handles:
                handle.remove()


def forward(model: LoadedModel, ids: torch.Tensor, keep: int = 1) -> torch.Tensor:
    """(batch, keep, vocab) float32 logits of the last `keep` positions (caller holds the gate)."""
    return model.model(input_ids=ids, logits_to_keep=keep, use_cache=False).logits.float()


def capture_heads(model: LoadedModel, ids: Sequence[int]) -> np.ndarray:
    """(layer, pos, head, head_dim) every head's output before W_O, from one clean forward."""
    parts = arch(model)
    found: list[torch.Tensor] = [None] * len(parts.blocks)

    def keeper(layer):
        return lambda module, args: found.__setitem__(layer, args[0][0].detach().clone())

    with hooked(model, pre=[(p, keeper(i)) for i, p in enumerate(parts.out_proj)]):
        forward(model, torch.tensor([list(ids)]))
    stacked = torch.stack(found)  # (layer, pos, head*head_dim)
    return stacked.reshape(*stacked.shape[:2], parts.heads, parts.head_dim).numpy()


def _head_editor(parts: Arch, rows: Sequence[Sequence[Head]], layer: int, fill: torch.Tensor | None):
    """A pre-hook on layer's W_O that overwrites row b's chosen heads with fill (or zeros)."""
    edits = [(row, head) for row, heads in enumerate(rows) for (lay, head) in heads if lay == layer]
    if not edits:
        return None

    def hook(module, args):
        z = args[0].clone()  # (batch, pos, head*head_dim); clone: never write into the caller's tensor
        for row, head in edits:
            cols = slice(head * parts.head_dim, (head + 1) * parts.head_dim)
            z[row, :, cols] = 0.0 if fill is None else fill[layer, head]
        return (z, *args[1:])

    return hook


def run_ablated(model: LoadedModel, ids: Sequence[int], rows: Sequence[Sequence[Head]],
                fill: np.ndarray | None = None, keep: int = 1) -> np.ndarray:
    """(row, keep, vocab) logits: row b is the prompt with heads rows[b] replaced, in one batch.

    fill: what replaces a head's output, indexed [layer, head]: (layer, head, head_dim) means for
    mean ablation, (layer, head, pos, head_dim) another run's outputs for patching; None zeroes.
    """
    parts = arch(model)
    fill = None if fill is None else torch.from_numpy(np.ascontiguousarray(fill, dtype=np.float32))
    hooks = [(parts.out_proj[i], h) for i in range(len(parts.blocks))
             if (h := _head_editor(parts, rows, i, fill)) is not None]
    batch = torch.tensor([list(ids)] * len(rows))
    with hooked(model, pre=hooks):
        return forward(model, batch, keep).numpy()


def head_means(model: LoadedModel, ids: Sequence[int]) -> np.ndarray:
    """(layer, head, head_dim) each head's output averaged over the prompt's positions.

    Mean ablation replaces a head by this average: it removes what the head says about *this*
    position while keeping its typical output (no dataset needed; stated on the page).
    """
    return capture_heads(model, ids).mean(axis=1)


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
               progress: Progress | None = None, rows_per_batch: int | None = None) -> np.ndarray:
    """(layer, head) change in log p(target) when that head alone is ablated (negative = it helped).

    Cost cap: layers × heads ablated copies of a prompt of at most MAX_WHY_TOKENS tokens, batched so
    a batch holds about MAX_BATCH_TOKENS tokens; the gate is taken once per batch.
    """
    _check_heads(model, [], mode)
    check_length(model, len(ids), MAX_WHY_TOKENS)
    means = head_means(model, ids) if mode == "mean" else None
    clean = log_probs(run_ablated(model, ids, [()], means)[:, -1])[0, target]
    logits = run_in_batches(model, ids, [(h,) for h in all_heads(model)], means, progress, rows_per_batch)
    changes = log_probs(logits)[:, target] - clean
    return changes.reshape(model.info.layers, model.info.heads)


def run_in_batches(model: LoadedModel, ids: Sequence[int], rows: Sequence[Sequence[Head]],
                   fill: np.ndarray | None = None, progress: Progress | None = None,
                   rows_per_batch: int | None = None) -> np.ndarray:
    """(row, vocab) last-position logits of run_ablated over many rows, about MAX_BATCH_TOKENS a batch."""
    size = rows_per_batch or max(1, MAX_BATCH_TOKENS // len(ids))
    out = []
    for start in range(0, len(rows), size):
        out.append(run_ablated(model, ids, rows[start:start + size], fill)[:, -1])
        if progress is not None:
            done = min(start + size, len(rows))
            progress(done / len(rows), f"Ran {done} of {len(rows)} edited copies of the prompt")
    return np.concatenate(out)


def log_probs(logits: np.ndarray) -> np.ndarray:
    """log_softmax over the last axis, in float64."""
    shifted = logits.astype(np.float64) - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def registered_hooks(model: LoadedModel) -> list[tuple[str, str]]:
    """(module name, hook's defining module) for every forward / pre-forward hook on the model.

    transformers installs its own output-capturing hooks the first time attentions are requested
    (they stay, by its design); any other hook is someone's intervention and must never be left behind.
    """
    return [(name, getattr(fn, "__module__", "")) for name, module in model.model.named_modules()
            for fn in (*module._forward_hooks.values(), *module._forward_pre_hooks.values())]


def hooks_left(model: LoadedModel) -> int:
    """How many hooks other than transformers' own are registered on the model (0 between requests)."""
    return sum(not owner.startswith("transformers") for _, owner in registered_hooks(model))

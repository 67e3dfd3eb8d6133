"""Hooks on a decoder's internals that live for one request, and running its layers from the middle.

Every hook lives only inside `hooked(...)`, which runs inside the model's inference gate and removes
the hooks in `finally`: no other session's forward pass can see them, and none outlives the request
(the pattern of TransformerLens's `run_with_hooks`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from core.models import LoadedModel
from core.runtime import gate


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


def capture_residual(model: LoadedModel, ids: Sequence[int]) -> torch.Tensor:
    """(layer, pos, d_model) the residual stream entering each layer, from one forward."""
    parts = arch(model)
    found: list = [None] * len(parts.blocks)

    def keeper(layer):
        return lambda module, args: found.__setitem__(layer, args[0][0].detach().clone())

    with hooked(model, pre=[(b, keeper(i)) for i, b in enumerate(parts.blocks)]):
        forward(model, torch.tensor([list(ids)]))
    return torch.stack(found)


def run_from(model: LoadedModel, layer: int, hidden: torch.Tensor, pre: Sequence[tuple] = (),
             keep: int | None = None) -> torch.Tensor:
    """(batch, vocab) last-position logits of running layers layer.. on hidden (batch, pos, d_model);
    (batch, keep, vocab) for the last `keep` positions when keep is given.

    An edit at layer l leaves layers < l as they were, so scans start from the clean residual there
    instead of recomputing it: on average half the work. The causal mask and (for Llama-style
    models) the rotary position embeddings are built as the model's own forward builds them.
    """
    parts, net = arch(model), model.model
    n = hidden.shape[1]
    mask = torch.full((n, n), torch.finfo(hidden.dtype).min).triu(1)[None, None]  # eager attention adds it
    kwargs: dict = {"attention_mask": mask}
    inner = getattr(net, "model", None)
    with hooked(model, pre=pre):
        if inner is not None and hasattr(inner, "rotary_emb"):
            positions = torch.arange(n)[None]
            kwargs |= {"position_ids": positions, "position_embeddings": inner.rotary_emb(hidden, positions)}
        for block in parts.blocks[layer:]:
            hidden = block(hidden, **kwargs)
        last = hidden[:, -1] if keep is None else hidden[:, -keep:]
        return net.get_output_embeddings()(parts.final_norm(last)).float()

"""Named hook sites on a decoder, and the one context manager that adds hooks for one request.

The vocabulary is TransformerLens's, resolved once per architecture (Llama-style and GPT-2):

- `blocks.{layer}.hook_resid_pre`  (batch, pos, d_model) the residual stream entering the layer
- `blocks.{layer}.attn.hook_z`     (batch, pos, head, head_dim) each head's output before W_O
- `blocks.{layer}.hook_attn_out`   (batch, pos, d_model) the attention block's write to the residual
- `blocks.{layer}.hook_mlp_out`    (batch, pos, d_model) the MLP's write
- `blocks.{layer}.hook_resid_post` (batch, pos, d_model) the residual leaving the layer (the last
  layer's is what the final norm reads)

A hook is `fn(value, site) -> replacement or None`. Hooks live only inside `hooks(...)`, which holds
the model's inference gate and removes them in `finally`: no other session's forward pass can see
them, and none outlives the request (TransformerLens's `run_with_hooks`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from core.runtime import calls, gate

HookFn = Callable[[torch.Tensor, str], "torch.Tensor | None"]
Hook = tuple[str, HookFn]


@dataclass(frozen=True)
class Arch:
    """Where a decoder keeps the parts the sites name (Llama-style or GPT-2)."""

    blocks: tuple[torch.nn.Module, ...]  # one per layer; input = residual stream before the layer
    attn: tuple[torch.nn.Module, ...]  # attention module per layer (output[0] = its residual write)
    out_proj: tuple[torch.nn.Module, ...]  # attention output projection; its input is heads side by side
    mlp: tuple[torch.nn.Module, ...]
    final_norm: torch.nn.Module
    unembed: torch.Tensor  # (vocab, d_model)
    heads: int
    head_dim: int
    fused_conv: bool  # GPT-2's Conv1D stores W_O as (in, out); Linear stores (out, in)

    def site(self, name: str) -> tuple[torch.nn.Module, str]:
        """(module, how the value is read: "pre", "post" or "z") for a site name; ValueError if unknown."""
        parts = name.split(".")
        try:
            layer = int(parts[1])
            if parts[0] != "blocks" or not 0 <= layer < len(self.blocks):
                raise ValueError
            where = ".".join(parts[2:])
            table = {"hook_resid_pre": (self.blocks, "pre"), "attn.hook_z": (self.out_proj, "z"),
                     "hook_attn_out": (self.attn, "post"), "hook_mlp_out": (self.mlp, "post"),
                     "hook_resid_post": (self.blocks, "post")}
            modules, kind = table[where]
        except (IndexError, ValueError, KeyError):
            raise ValueError(f"No hook site {name!r}: sites are blocks.{{0–{len(self.blocks) - 1}}}."
                             "hook_resid_pre / attn.hook_z / hook_attn_out / hook_mlp_out / hook_resid_post.") from None
        return modules[layer], kind


_ARCHS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # network -> Arch, resolved once


def arch(model) -> Arch:
    """The decoder's parts, resolved once per network; ValueError for an architecture the sites do not know."""
    net = calls.network(model)
    if net not in _ARCHS:
        _ARCHS[net] = _resolve(net, model.info)
    return _ARCHS[net]


def _resolve(net: torch.nn.Module, info) -> Arch:
    if hasattr(net, "model") and hasattr(net.model, "layers"):  # Llama, Mistral, Qwen, SmolLM2
        blocks = tuple(net.model.layers)
        attn = tuple(b.self_attn for b in blocks)
        out_proj, conv, norm = tuple(a.o_proj for a in attn), False, net.model.norm
    elif hasattr(net, "transformer") and hasattr(net.transformer, "h"):  # GPT-2
        blocks = tuple(net.transformer.h)
        attn = tuple(b.attn for b in blocks)
        out_proj, conv, norm = tuple(a.c_proj for a in attn), True, net.transformer.ln_f
    else:
        raise ValueError(f"Hook sites cover Llama-style and GPT-2 decoders; {info.architecture} is neither.")
    return Arch(blocks, attn, out_proj, tuple(b.mlp for b in blocks), norm,
                net.get_output_embeddings().weight, info.heads, info.head_dim, conv)


def head_weight(parts: Arch, layer: int, head: int) -> torch.Tensor:
    """(head_dim, d_model) slice of W_O that maps one head's output into the residual stream."""
    weight = parts.out_proj[layer].weight
    rows = slice(head * parts.head_dim, (head + 1) * parts.head_dim)
    return weight[rows] if parts.fused_conv else weight[:, rows].T


def _wrap(parts: Arch, name: str, kind: str, fn: HookFn):
    """A torch hook that hands fn the site's value and puts back what it returns."""
    if kind == "post":
        def post(module, args, output):
            value = output[0] if isinstance(output, tuple) else output
            new = fn(value, name)
            if new is None:
                return None
            return (new, *output[1:]) if isinstance(output, tuple) else new
        return post

    def pre(module, args):
        value = args[0]
        if kind == "z":  # heads side by side -> (batch, pos, head, head_dim), as TransformerLens names it
            value = value.view(*value.shape[:-1], parts.heads, parts.head_dim)
        new = fn(value, name)
        if new is None:
            return None
        return (new.reshape(args[0].shape) if kind == "z" else new, *args[1:])
    return pre


@contextmanager
def hooks(model, fwd_hooks: Sequence[Hook] = (), grad: bool = False) -> Iterator[None]:
    """Hold the model's gate, add each (site, fn) hook, and always remove them.

    grad=False runs under inference_mode; grad=True enables autograd (gradients flow to the inputs
    only: the shared model's parameters keep requires_grad False).
    """
    parts = arch(model) if fwd_hooks else None
    resolved = [(name, *parts.site(name), fn) for name, fn in fwd_hooks]  # unknown names fail before any is added
    handles = []
    with gate.hold(model), (torch.enable_grad() if grad else torch.inference_mode()):
        try:
            for name, module, kind, fn in resolved:
                hook = _wrap(parts, name, kind, fn)
                handles.append(module.register_forward_hook(hook) if kind == "post"
                               else module.register_forward_pre_hook(hook))
            yield
        finally:
            for handle in handles:
                handle.remove()


def run_with_cache(model, ids: Sequence[int], names: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """((pos, vocab) float32 logits, {site: value without the batch axis}) from one forward of one prompt."""
    found: dict[str, np.ndarray] = {}

    def keep(value: torch.Tensor, name: str) -> None:
        found[name] = calls.to_numpy(value[0])

    with hooks(model, [(name, keep) for name in names]):
        logits = calls.logits(model, [list(ids)], keep=len(ids))[0]
    return logits, found


def run_with_hooks(model, rows: Sequence[Sequence[int]], fwd_hooks: Sequence[Hook], keep: int = 1) -> np.ndarray:
    """(batch, keep, vocab) float32 logits of equal-length rows with the hooks in place."""
    with hooks(model, fwd_hooks):
        return calls.logits(model, [list(row) for row in rows], keep)


def residual_stream(model, ids: Sequence[int]) -> np.ndarray:
    """(layer, pos, d_model) the residual stream entering each layer, from one forward."""
    names = [f"blocks.{layer}.hook_resid_pre" for layer in range(len(arch(model).blocks))]
    _, found = run_with_cache(model, ids, names)
    return np.stack([found[name] for name in names])


def head_outputs(model, ids: Sequence[int]) -> np.ndarray:
    """(layer, pos, head, head_dim) every head's output before W_O, from one forward."""
    names = [f"blocks.{layer}.attn.hook_z" for layer in range(len(arch(model).blocks))]
    _, found = run_with_cache(model, ids, names)
    return np.stack([found[name] for name in names])


def _tensor(values) -> torch.Tensor:
    """float32 tensor of a numpy array (copied: cached results are read-only) or a tensor."""
    if isinstance(values, torch.Tensor):
        return values.float()
    return torch.from_numpy(np.array(values, dtype=np.float32))


def registered_hooks(model) -> list[tuple[str, str]]:
    """(module name, hook's defining module) for every forward / pre-forward hook on the model.

    transformers installs its own output-capturing hooks the first time attentions are requested
    (they stay, by its design); any other hook is someone's intervention and must never be left behind.
    """
    return [(name, getattr(fn, "__module__", "")) for name, module in calls.network(model).named_modules()
            for fn in (*module._forward_hooks.values(), *module._forward_pre_hooks.values())]


def hooks_left(model) -> int:
    """How many hooks other than transformers' own are registered on the model (0 between requests)."""
    return sum(not owner.startswith("transformers") for _, owner in registered_hooks(model))


def run_from(model, layer: int, hidden, fwd_hooks: Sequence[Hook] = (), keep: int | None = None) -> np.ndarray:
    """(batch, vocab) float32 last-position logits of running layers layer.. on hidden (batch, pos, d_model);
    (batch, keep, vocab) for the last `keep` positions when keep is given.

    An edit at layer l leaves layers < l as they were, so scans start from the clean residual there
    instead of recomputing it: on average half the work. The causal mask and (for Llama-style
    models) the rotary position embeddings are built as the model's own forward builds them.
    """
    parts, net = arch(model), calls.network(model)
    hidden = calls.on_device(model, _tensor(hidden))
    n = hidden.shape[1]
    mask = torch.full((n, n), torch.finfo(hidden.dtype).min, device=hidden.device).triu(1)[None, None]
    kwargs: dict = {"attention_mask": mask}
    inner = getattr(net, "model", None)
    with hooks(model, fwd_hooks):
        if inner is not None and hasattr(inner, "rotary_emb"):
            positions = torch.arange(n, device=hidden.device)[None]
            kwargs |= {"position_ids": positions,
                       "position_embeddings": calls.run_module(model, inner.rotary_emb, hidden, positions)}
        for block in parts.blocks[layer:]:
            hidden = calls.run_module(model, block, hidden, **kwargs)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        last = hidden[:, -1] if keep is None else hidden[:, -keep:]
        return calls.to_numpy(calls.unembed(model, calls.run_module(model, parts.final_norm, last)))

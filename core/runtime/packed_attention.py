"""Attention for one forward over many short rows that share a prompt prefix, computed only where it is allowed.

A packed forward lays its query tokens out as: `dense` tokens that continue the cached prefix
(causal, like a normal prefill), then blocks, each of which sees the whole prefix (cached + dense)
and itself causally, never another block. Eager attention with a block-causal mask computes every
block token against every other block's keys and throws the result away; here the prefix part is
one dense product and the in-block part a small padded grid, so the work is prefix + own block.

The function is registered with transformers' AttentionInterface under NAME and selected only for
the duration of a packed forward (`selected`), inside the inference gate, then switched back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from transformers import AttentionInterface

NAME = "llm_lens_packed"


@dataclass(frozen=True)
class PackLayout:
    """Where each query token of a packed forward may look; built once per forward, used by every layer."""

    dense: int  # query tokens continuing the prefix (causal over cached + dense)
    grid: torch.Tensor  # (block, width) index of each block token among the block tokens; pads point at 0
    grid_mask: torch.Tensor  # (block, width, width) additive: 0 = may attend (causal, real keys), else -inf
    flat: torch.Tensor  # (block token,) position of each block token in the flattened grid


def layout(dense: int, blocks: Sequence[int]) -> PackLayout:
    """The layout of `dense` prefix tokens followed by blocks of the given lengths (each >= 1)."""
    width = max(blocks, default=1)
    grid = torch.zeros((len(blocks), width), dtype=torch.long)
    valid = torch.zeros((len(blocks), width), dtype=torch.bool)
    start = 0
    for row, length in enumerate(blocks):
        grid[row, :length] = torch.arange(start, start + length)
        valid[row, :length] = True
        start += length
    causal = torch.ones((width, width), dtype=torch.bool).tril()
    allowed = causal[None] & valid[:, None, :]
    grid_mask = torch.zeros(allowed.shape).masked_fill(~allowed, float("-inf"))
    return PackLayout(dense, grid, grid_mask, valid.flatten().nonzero()[:, 0])


def packed_attention(module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attention_mask,
                     scaling: float | None = None, dropout: float = 0.0, pack_layout: PackLayout | None = None,
                     **kwargs) -> tuple[torch.Tensor, None]:
    """Attention output (1, query, head, head_dim) for a packed forward; no weights returned.

    query (1, head, query, head_dim); key, value (1, kv_head, cached + query, head_dim). Grouped
    query heads share their key head without copying it.
    """
    if pack_layout is None or query.shape[0] != 1:
        raise ValueError("Packed attention needs a pack_layout and a batch of one sequence.")
    heads, queries, dim = query.shape[1:]
    kv_heads = key.shape[1]
    scale = dim ** -0.5 if scaling is None else scaling
    q = query[0].reshape(kv_heads, heads // kv_heads, queries, dim)  # (kv_head, group, query, head_dim)
    k, v = key[0], value[0]  # (kv_head, pos, head_dim)
    prefix = k.shape[1] - queries + pack_layout.dense
    parts = []
    if pack_layout.dense:
        parts.append(_dense(q[:, :, : pack_layout.dense], k[:, :prefix], v[:, :prefix], scale))
    if queries > pack_layout.dense:
        parts.append(_blocks(q[:, :, pack_layout.dense:], k, v, prefix, scale, pack_layout))
    out = torch.cat(parts, dim=2) if len(parts) > 1 else parts[0]
    return out.reshape(heads, queries, dim).transpose(0, 1)[None].contiguous(), None


def _dense(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    """Causal attention of the last q.shape[2] prefix tokens over all prefix keys: (kv_head, group, dense, head_dim)."""
    groups, dense = q.shape[1], q.shape[2]
    scores = (q.reshape(k.shape[0], -1, q.shape[-1]) @ k.transpose(1, 2)) * scale
    scores = scores.view(k.shape[0], groups, dense, k.shape[1])
    later = torch.ones((dense, k.shape[1]), dtype=torch.bool).triu(k.shape[1] - dense + 1)
    weights = torch.softmax(scores.masked_fill(later, float("-inf")), dim=-1)
    return (weights.reshape(k.shape[0], -1, k.shape[1]) @ v).view(k.shape[0], groups, dense, -1)


def _blocks(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, prefix: int, scale: float,
            pack: PackLayout) -> torch.Tensor:
    """Each block token over the prefix keys and its own block's keys: (kv_head, group, block token, head_dim).

    One softmax over both key sets, merged from their parts (as flash attention does) so the large
    (token, prefix) score matrix is exponentiated in place and never copied.
    """
    kv_heads, groups, tokens, dim = q.shape
    blocks, width = pack.grid.shape
    q = q * scale  # on the small query side, not the (token, key) scores
    to_prefix = q.reshape(kv_heads, groups * tokens, dim) @ k[:, :prefix].transpose(1, 2)  # (.., token, prefix)
    own_k, own_v = k[:, prefix:][:, pack.grid], v[:, prefix:][:, pack.grid]  # (kv_head, block, width, head_dim)
    to_own = q[:, :, pack.grid] @ own_k[:, None].transpose(-1, -2) + pack.grid_mask
    to_own = to_own.reshape(kv_heads, groups, blocks * width, width)[:, :, pack.flat].reshape(kv_heads, -1, width)
    top = to_own.amax(-1, keepdim=True)
    if prefix:
        top = torch.maximum(top, to_prefix.amax(-1, keepdim=True))
    to_prefix, to_own = to_prefix.sub_(top).exp_(), (to_own - top).exp_()
    total = (to_prefix.sum(-1, keepdim=True) + to_own.sum(-1, keepdim=True)).view(kv_heads, groups, tokens, 1)
    out = (to_prefix @ v[:, :prefix]).view(q.shape)
    own = to_own.new_zeros((kv_heads, groups, blocks * width, width))
    own[:, :, pack.flat] = to_own.view(kv_heads, groups, tokens, width)
    own_out = own.view(kv_heads, groups, blocks, width, width) @ own_v[:, None]
    return (out + own_out.reshape(kv_heads, groups, blocks * width, dim)[:, :, pack.flat]) / total


def register() -> None:
    """Make NAME a known attention implementation (process-wide; core.runtime.settings calls it)."""
    AttentionInterface.register(NAME, packed_attention)


register()  # on import too: label scoring may select it before any model was prepared


@contextmanager
def selected(network) -> Iterator[None]:
    """Run the body with packed attention selected on the network's config; the previous one restored after.

    Call only inside the model's inference gate: the config is shared by every session.
    """
    config = network.config
    before = config._attn_implementation
    config._attn_implementation = NAME
    try:
        yield
    finally:
        config._attn_implementation = before

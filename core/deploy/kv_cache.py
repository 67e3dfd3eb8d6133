"""The KV cache's size: bytes per token from the architecture, checked against the real cache tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.deploy.timing import check_decoder, prompt_ids
from core.models import LoadedModel
from core.runtime import calls, gate

GROWTH_POINTS = 64  # points of the growth curve from 1 token to the context window


@dataclass(frozen=True)
class CacheSize:
    """Bytes the KV cache takes per token, from the formula and from a real cache, and its growth."""

    layers: int
    heads: int  # query heads
    kv_heads: int  # key/value heads (fewer than query heads under grouped-query attention)
    head_dim: int
    bytes_per_value: int
    formula_bytes_per_token: int  # 2 × layers × kv_heads × head_dim × bytes per value
    measured_bytes_per_token: float  # the real cache tensors' bytes ÷ tokens cached
    mha_bytes_per_token: int  # the same model with one key/value head per query head
    tokens_cached: int
    context_window: int
    growth: pd.DataFrame  # tokens, gqa_bytes, mha_bytes: the cache of one sequence up to the context window
    weights_bytes: int  # every distinct weight tensor of the model (what sits beside the caches in memory)

    @property
    def gqa_saving(self) -> float:
        """How many times smaller the cache is than full multi-head attention's."""
        return self.mha_bytes_per_token / self.formula_bytes_per_token


def bytes_per_token(layers: int, kv_heads: int, head_dim: int, bytes_per_value: int) -> int:
    """KV cache bytes per token: 2 (key and value) × layers × kv_heads × head_dim × bytes per value."""
    for name, value in (("layers", layers), ("kv_heads", kv_heads), ("head_dim", head_dim),
                        ("bytes_per_value", bytes_per_value)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1; got {value}.")
    return 2 * layers * kv_heads * head_dim * bytes_per_value


def users_that_fit(memory_bytes: float, weights_bytes: float, per_token: float, context: int) -> int:
    """Concurrent sequences of `context` tokens whose caches fit beside the weights in memory_bytes."""
    if per_token <= 0 or context < 1:
        raise ValueError("Bytes per token and context length must be positive.")
    free = memory_bytes - weights_bytes
    return max(0, int(free // (per_token * context)))


def cache_size(model: LoadedModel, text: str) -> CacheSize:
    """Run the prompt once with a cache (inside the gate) and compare its tensors' bytes with the formula."""
    check_decoder(model)
    ids = prompt_ids(model, text)
    with gate.inference(model):
        output = calls.forward(model, input_ids=ids, use_cache=True, logits_to_keep=1)
    tensors = [t for layer in output.cache.layers for t in (layer.keys, layer.values)]
    measured = sum(t.numel() * t.element_size() for t in tensors) / ids.shape[1]
    info, size = model.info, tensors[0].element_size()
    formula = bytes_per_token(info.layers, info.kv_heads, info.head_dim, size)
    mha = bytes_per_token(info.layers, info.heads, info.head_dim, size)
    tokens = np.unique(np.linspace(1, info.context_window, GROWTH_POINTS).astype(np.int64))
    growth = pd.DataFrame({"tokens": tokens, "gqa_bytes": tokens * formula, "mha_bytes": tokens * mha})
    return CacheSize(info.layers, info.heads, info.kv_heads, info.head_dim, size, formula, float(measured), mha,
                     int(ids.shape[1]), info.context_window, growth,
                     sum(p.numel() * p.element_size() for p in model.model.parameters()))


"""Direct logit attribution: the target's logit split over the residual stream's parts.

The last position's final residual is embedding + Σ_layer (attention output + MLP output). The
final norm is linearised by freezing its scale at the value the real residual gives (as
TransformerLens does); after that every part maps linearly onto the unembedding direction of the
target (or target − contrast), so the parts add up to the model's own logit. What is left over (the
"residual" on the page) is float rounding: with the scale frozen, RMSNorm is exactly linear, and
LayerNorm's centring is applied to each part and its bias counted as a part of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.models import LoadedModel
from core.runtime.hooks import arch, head_weight, run_with_cache


@dataclass(frozen=True)
class LogitAttribution:
    """Each part's direct contribution to logit(target) [− logit(contrast)] at the last position."""

    target: int
    contrast: int | None
    embedding: float  # token (+ position) embedding
    attention: np.ndarray  # (layer,) whole attention block, bias included
    mlp: np.ndarray  # (layer,)
    heads: np.ndarray  # (layer, head) each head's share of its layer's attention (no bias)
    norm_bias: float  # the final LayerNorm's bias (0 for RMSNorm)
    logit: float  # the model's own logit (or logit difference)

    @property
    def total(self) -> float:
        """Sum of the parts."""
        return float(self.embedding + self.attention.sum() + self.mlp.sum() + self.norm_bias)

    @property
    def residual(self) -> float:
        """The model's logit minus the sum of the parts (float rounding only; shown on the page)."""
        return self.logit - self.total


def _frozen_norm(norm: torch.nn.Module, final: torch.Tensor):
    """The final norm as a linear map with its scale frozen at the real residual; plus its bias."""
    eps = getattr(norm, "variance_epsilon", None) or getattr(norm, "eps", 1e-6)
    weight = norm.weight.float()
    if isinstance(norm, torch.nn.LayerNorm):  # GPT-2: centre, divide by the frozen std, then bias
        scale = torch.rsqrt(final.var(unbiased=False) + eps)
        return (lambda v: weight * (v - v.mean(-1, keepdim=True)) * scale), norm.bias.float()
    scale = torch.rsqrt(final.pow(2).mean() + eps)  # RMSNorm: no centring, no bias
    return (lambda v: weight * v * scale), torch.zeros_like(weight)


def _capture(model: LoadedModel, ids: Sequence[int]) -> tuple[dict, torch.Tensor]:
    """One forward (core.runtime.hooks.run_with_cache) that keeps the last position's residual parts and
    logits, as tensors on the model's device (the weights they are projected with live there)."""
    layers = range(model.info.layers)
    names = {"embed": "blocks.0.hook_resid_pre", "final": f"blocks.{layers[-1]}.hook_resid_post"}
    names |= {("attn", i): f"blocks.{i}.hook_attn_out" for i in layers}
    names |= {("mlp", i): f"blocks.{i}.hook_mlp_out" for i in layers}
    names |= {("z", i): f"blocks.{i}.attn.hook_z" for i in layers}
    logits, found = run_with_cache(model, ids, list(names.values()))
    device = arch(model).unembed.device
    last = {key: torch.from_numpy(found[name][-1]).to(device) for key, name in names.items()}
    return last, torch.from_numpy(logits[-1])


def logit_attribution(model: LoadedModel, ids: Sequence[int], target: int,
                      contrast: int | None = None) -> LogitAttribution:
    """Decompose logit(target) (or logit(target) − logit(contrast)) at the last position."""
    parts = arch(model)
    seen, logits = _capture(model, ids)
    layers = range(len(parts.blocks))
    with torch.inference_mode():
        direction = parts.unembed[target].float()
        if contrast is not None:
            direction = direction - parts.unembed[contrast].float()
        norm, bias = _frozen_norm(parts.final_norm, seen["final"])
        project = lambda v: float(norm(v) @ direction)  # noqa: E731
        heads = np.array([[project(seen["z", layer][h] @ head_weight(parts, layer, h).float())
                           for h in range(parts.heads)] for layer in layers])
        logit = float(logits[target] - (logits[contrast] if contrast is not None else 0.0))
        return LogitAttribution(
            target=target, contrast=contrast,
            embedding=project(seen["embed"]),
            attention=np.array([project(seen["attn", layer]) for layer in layers]),
            mlp=np.array([project(seen["mlp", layer]) for layer in layers]),
            heads=heads, norm_bias=float(bias @ direction), logit=logit,
        )

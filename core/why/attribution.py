"""Input attribution: which prompt tokens drove the target's log-probability (Captum's methods).

Integrated gradients (Sundararajan et al. 2017) and gradient × input, both on the input token
embeddings. The score is log p(target) at the last position (or the target's logit: the evidence for
it alone, without the softmax's normaliser), or log p(A) − log p(B) for the contrastive view (equal
to the logit difference: the log-normaliser cancels). Gradients flow to the embeddings only: the
shared model keeps requires_grad False on every parameter.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from core.analysis import check_length
from core.models import LoadedModel
from core.runtime import calls, gate, lanes
from core.runtime.hooks import hooks
from core.why.interventions import MAX_WHY_TOKENS

MIN_STEPS, MAX_STEPS = 4, 64  # cost cap: tokens × steps ≤ 64 × 64 embedding rows through the model
# The adaptive integral starts at DEFAULT_STEPS and doubles up to MAX_STEPS. Measured on the Why page's
# default ("The capital of France is Paris. The capital of Germany is" → " Berlin", SmolLM2, 12 tokens),
# completeness error at 16 / 32 / 64 steps: log p 15% / 7.2% / 3.5% (so the page converges at 64);
# log p(" Berlin") − log p(" London") 36% / 0.7% at 32 / 64. The logit alone needs more: 25% / 12% /
# 0.2% / 0.02% at 32 / 64 / 128 / 256. The cap stays 64 (README "Caps"): 128 would double the worst
# case (64 tokens × 128 steps) for the one view that is not the default; that view warns instead.
DEFAULT_STEPS = 32
COMPLETE_WITHIN = 0.05  # completeness error, as a share of |f(input) − f(baseline)|, that counts as converged
MAX_GRAD_TOKENS = 512  # tokens per forward+backward batch: 16 rows × 32 as fast as 32 × 32 (8 slower), half the memory
# What is attributed for one target. On "The capital of France is" → " Paris" (SmolLM2, 32 steps) the
# logit ranks " France" first (4.71 vs " of" 2.75, " capital" 2.72); log p ranks " capital" (4.43) just
# above " France" (4.31): "capital of" makes a city likely, which log p also credits for pushing the
# other tokens down.
SCORES = {"logprob": "log-probability", "logit": "logit"}
BASELINE = ("the average token embedding (mean over the vocabulary) at every position but the first, "
            "which keeps its own embedding")


@dataclass(frozen=True)
class InputAttribution:
    """Per-token attributions of one score, with the completeness check of integrated gradients."""

    ids: tuple[int, ...]
    target: int
    contrast: int | None
    steps: int
    kind: str  # a key of SCORES (the contrastive score is the same for both)
    integrated: np.ndarray  # (pos,) IG attribution summed over d_model
    grad_x_input: np.ndarray  # (pos,) gradient × input summed over d_model
    score: float  # f(input): log p(target) or logit(target) [− the same for contrast]
    baseline_score: float  # f(baseline)
    delta: float  # Σ IG − (f(input) − f(baseline)), as Captum reports it
    tried: tuple[int, ...] = ()  # step counts integrated, in order (the adaptive loop); the last is `steps`

    @property
    def converged(self) -> bool:
        """Whether completeness holds within COMPLETE_WITHIN."""
        return self.relative_error <= COMPLETE_WITHIN

    @property
    def relative_error(self) -> float:
        """|delta| as a share of |f(input) − f(baseline)| (completeness holds when this is small)."""
        gap = abs(self.score - self.baseline_score)
        return abs(self.delta) / gap if gap > 0 else float("inf")


def _score_fn(model: LoadedModel, target: int, contrast: int | None, kind: str = "logprob"):
    """embeds (batch, pos, d_model) -> (batch,) log p(target) or its logit [− contrast's] at the last position."""
    if kind not in SCORES:
        raise ValueError(f"Attribution scores are {', '.join(SCORES)}; got {kind!r}.")

    def score(embeds: torch.Tensor) -> torch.Tensor:
        logits = calls.forward(model, inputs_embeds=embeds, logits_to_keep=1, use_cache=False).logits[:, -1].float()
        values = torch.log_softmax(logits, dim=-1) if kind == "logprob" else logits
        return values[:, target] - (values[:, contrast] if contrast is not None else 0.0)
    return score


def baseline(model: LoadedModel, inputs: torch.Tensor) -> torch.Tensor:
    """(1, pos, d_model) the IG starting point: the mean token embedding, first position kept.

    The first position is the model's attention sink: with it replaced, SmolLM2's score jumps along
    the path and IG failed its completeness check (measured: error 430% of f(x) − f(b) at 32 steps
    with an end-of-text baseline, 0.2% with the first token kept). The mean embedding is the
    "average token": measured on SmolLM2 it also converged (0.5% at 32 steps). Against a zero, an
    end-of-text or a space-token embedding (first position kept) on six factual prompts it had the
    smallest completeness errors at 64 steps (≤ 1.5% on five, 7.8% on one). A space token ranked the
    key word (" Italy", " hydrogen", " Germany") first more often, but missed completeness by 35% on
    one prompt; no baseline put " France" above " capital" for log p(" Paris").
    """
    mean = model.model.get_input_embeddings().weight.mean(0)
    start = mean.expand_as(inputs).clone()
    start[:, 0] = inputs[:, 0]
    return start


@dataclass(frozen=True)
class _Path:
    """What every step count of one attribution shares: the two ends of the path and f and ∇f there."""

    model: LoadedModel
    ids: tuple[int, ...]
    target: int
    contrast: int | None
    kind: str
    score: Callable[[torch.Tensor], torch.Tensor]
    inputs: torch.Tensor  # (1, pos, d_model)
    start: torch.Tensor  # (1, pos, d_model) the baseline
    f_input: float
    f_base: float
    grad_x_input: torch.Tensor  # (pos, d_model)


def _path(model: LoadedModel, ids: Sequence[int], target: int, contrast: int | None, kind: str) -> _Path:
    """Check the input, then f(input), f(baseline) and gradient × input in one 2-row pass under the gate."""
    check_length(model, len(ids), MAX_WHY_TOKENS)
    if len(ids) < 2:  # the baseline keeps position 0, so a one-token input is its own baseline
        raise ValueError("Input attribution needs at least 2 prompt tokens: the baseline keeps the first token "
                         "(the model's attention sink), so with one token there is nothing to attribute. "
                         "Type a longer prompt.")
    score = _score_fn(model, target, contrast, kind)
    with hooks(model, grad=True):
        inputs = calls.embed(model, [list(ids)]).detach()  # (1, pos, d_model)
        start = baseline(model, inputs).detach()
        (f_input, f_base), gxi = _ends(score, inputs, start)
    return _Path(model, tuple(ids), target, contrast, kind, score, inputs, start, float(f_input), float(f_base),
                 gxi.detach())


def _integrate(path: _Path, steps: int, internal_batch_size: int | None = None) -> InputAttribution:
    """IG along path with `steps` Gauss-Legendre points, the gate taken once per round of batches."""
    ways = 1 if internal_batch_size else lanes.count(path.model)
    # At most MAX_GRAD_TOKENS tokens in flight over all lanes: the memory of one batch of that size.
    batch = internal_batch_size or max(1, min(steps, MAX_GRAD_TOKENS // (len(path.ids) * ways)))
    ig = integrated_gradients(path.score, path.inputs, path.start, steps, batch, ways,
                              hold=functools.partial(gate.hold, path.model))
    # Captum's convergence delta, without the two extra forwards it would run to get f at both ends.
    delta = float(ig[0].sum()) - (path.f_input - path.f_base)
    return InputAttribution(
        ids=path.ids, target=path.target, contrast=path.contrast, steps=steps, kind=path.kind,
        integrated=ig[0].detach().sum(-1).double().cpu().numpy(),
        grad_x_input=path.grad_x_input.sum(-1).double().cpu().numpy(),
        score=path.f_input, baseline_score=path.f_base, delta=delta, tried=(steps,),
    )


def _check_steps(steps: int) -> None:
    if not MIN_STEPS <= steps <= MAX_STEPS:
        raise ValueError(f"Integrated gradients takes {MIN_STEPS}–{MAX_STEPS} steps; got {steps}.")


def attribute(model: LoadedModel, ids: Sequence[int], target: int, contrast: int | None = None,
              steps: int = DEFAULT_STEPS, internal_batch_size: int | None = None,
              kind: str = "logprob") -> InputAttribution:
    """Integrated gradients and gradient × input of log p(target) [− log p(contrast)] per token.

    kind="logit" attributes the target's logit instead (the same as log p for a contrast).

    IG uses Captum's Gauss-Legendre rule with `steps` points, batched over steps and spread over the
    lanes (at most MAX_GRAD_TOKENS tokens in flight); internal_batch_size sets the batch and runs the
    batches one at a time (the benchmark's baseline). Everything else (f(input), f(baseline),
    gradient × input) comes from one more 2-row forward+backward.
    """
    _check_steps(steps)
    return _integrate(_path(model, ids, target, contrast, kind), steps, internal_batch_size)


def attribute_converged(model: LoadedModel, ids: Sequence[int], target: int, contrast: int | None = None,
                        steps: int = DEFAULT_STEPS, kind: str = "logprob",
                        tolerance: float = COMPLETE_WITHIN) -> InputAttribution:
    """attribute() with the step count doubled from `steps` until completeness holds within
    tolerance or MAX_STEPS is reached; `tried` lists the step counts integrated.

    Gauss-Legendre points are not nested, so each doubling integrates afresh: from 32 steps, an input
    that needs 64 costs 32 + 64 = 96 steps' gradients (1.5× going straight to 64). The 2-row pass for
    f(input), f(baseline) and gradient × input runs once and is shared by every step count.
    """
    _check_steps(steps)
    if tolerance < 0:
        raise ValueError(f"The completeness tolerance is a share ≥ 0; got {tolerance}.")
    path = _path(model, ids, target, contrast, kind)
    tried: list[int] = []
    while True:
        result = _integrate(path, steps)
        tried.append(steps)
        if result.relative_error <= tolerance or steps >= MAX_STEPS:
            return replace(result, tried=tuple(tried))
        steps = min(2 * steps, MAX_STEPS)


def integrated_gradients(score, inputs: torch.Tensor, start: torch.Tensor, steps: int, batch: int,
                         ways: int = 1, hold: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
                         ) -> torch.Tensor:
    """(1, pos, d_model) integrated gradients of score from start to inputs, as Captum computes them.

    Captum's default rule: Gauss-Legendre points α and weights w on [0, 1], attribution =
    (inputs − start) · Σ w·∇score(start + α·(inputs − start)). The steps run `batch` at a time in one
    forward+backward, and each round of `ways` batches runs on the lanes (core.runtime.lanes) at once, inside
    one hold() (the model's gate): a request queued behind the integral waits for one round at most.
    Captum's own loop runs its batches one after another, so it cannot use the other cores.
    """
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alphas, sizes = 0.5 * (1 + nodes), 0.5 * weights
    diff = inputs - start
    chunks = [list(range(first, min(first + batch, steps))) for first in range(0, steps, batch)]

    def one_batch(chunk: list[int]) -> torch.Tensor:
        points = torch.cat([start + float(alphas[i]) * diff for i in chunk]).requires_grad_()
        (grads,) = torch.autograd.grad(score(points).sum(), points)  # rows are independent
        weight = torch.tensor(sizes[chunk], dtype=grads.dtype, device=grads.device).view(-1, 1, 1)
        return (grads * weight).sum(0, keepdim=True)

    total = torch.zeros_like(inputs)
    for first in range(0, len(chunks), ways):
        with hold():
            total += sum(lanes.run([functools.partial(one_batch, c) for c in chunks[first:first + ways]], grad=True))
    return diff * total


def _ends(score, inputs: torch.Tensor, start: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """((2,) f(input) and f(baseline), (pos, d_model) gradient × input) from one 2-row forward+backward.

    Rows of a batch do not interact, so row 0's gradient is the gradient at the input alone.
    """
    seen: list[torch.Tensor] = []

    def recording(embeds: torch.Tensor) -> torch.Tensor:
        out = score(embeds)
        seen.append(out.detach())
        return out

    from captum.attr import InputXGradient  # here, not at import: captum takes a second to import

    both = InputXGradient(recording).attribute(torch.cat([inputs, start]))  # (2, pos, d_model)
    return seen[-1], both[0]


def score_of(model: LoadedModel, embeds: torch.Tensor, target: int, contrast: int | None = None) -> float:
    """f(embeds) for one (1, pos, d_model) input: the finite-difference check uses it."""
    with hooks(model):
        return float(_score_fn(model, target, contrast)(embeds)[0])

"""Decoding with and without the KV cache, prefill vs decode speed, and this machine's limits, measured together."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.deploy.timing import (
    TIMING_RUNS,
    Progress,
    check_decoder,
    check_new_tokens,
    clock,
    median,
    prompt_ids,
    quiet,
)
from core.models import LoadedModel
from core.runtime import calls, gate

MATMUL_SIZE = 1024  # the FLOP rate is timed on a (n × n) @ (n × n) product: 2n³ = 2.1 GFLOP


@dataclass(frozen=True)
class CacheTimes:
    """Time of each new token decoded with and without the KV cache (medians over runs)."""

    prompt_tokens: int
    cached_seconds: np.ndarray  # (new,) the first includes the prompt's prefill
    uncached_seconds: np.ndarray  # (new,) each step re-runs the whole sequence so far
    cached_tokens: tuple[int, ...]
    uncached_tokens: tuple[int, ...]
    runs: int

    @property
    def same_tokens(self) -> bool:
        return self.cached_tokens == self.uncached_tokens

    @property
    def speedup(self) -> float:
        return float(self.uncached_seconds.sum() / self.cached_seconds.sum())


@dataclass(frozen=True)
class Limits:
    """This machine's compute and memory limits, measured with the model's dtype on its device."""

    matmul_size: int
    flops_per_second: float  # a square matrix product's 2n³ FLOPs ÷ its median time
    weight_bytes: int  # every distinct weight of the model, read once
    bandwidth: float  # weight_bytes ÷ the median time to read them all (bytes per second)


@dataclass(frozen=True)
class PrefillDecode:
    """Prefill (every prompt token in one pass) vs decode (one token per pass) against the limits."""

    prompt_tokens: int
    prefill_seconds: float  # median time of one forward over the prompt
    decode_seconds: float  # median time of one cached decode step
    flops_per_token: float  # 2 × the parameters of every matrix product (attention scores left out)
    limits: Limits
    runs: int

    @property
    def prefill_tokens_per_second(self) -> float:
        return self.prompt_tokens / self.prefill_seconds

    @property
    def decode_tokens_per_second(self) -> float:
        return 1.0 / self.decode_seconds

    @property
    def prefill_bound(self) -> float:
        """Tokens per second if prefill ran at the measured FLOP rate."""
        return self.limits.flops_per_second / self.flops_per_token

    @property
    def decode_bound(self) -> float:
        """Tokens per second if each decode step only read the weights once at the measured bandwidth."""
        return self.limits.bandwidth / self.limits.weight_bytes


def decode_with_and_without_cache(model: LoadedModel, text: str, new_tokens: int = 32, runs: int = TIMING_RUNS,
                                  progress: Progress | None = None) -> CacheTimes:
    """Greedy-decode new_tokens twice per run, with and without the cache (each run one gate hold)."""
    check_decoder(model)
    check_new_tokens(new_tokens)
    report = progress or quiet
    ids = prompt_ids(model, text, room=new_tokens)
    cached, uncached = [], []
    for run in range(runs):
        report(run / runs, f"Run {run + 1} of {runs}: decoding with the cache…")
        cached.append(timed_decode(model, ids, new_tokens, use_cache=True))
        report((run + 0.5) / runs, f"Run {run + 1} of {runs}: decoding without the cache…")
        uncached.append(timed_decode(model, ids, new_tokens, use_cache=False))
    report(1.0, "Done.")
    return CacheTimes(int(ids.shape[1]), _median_steps(cached), _median_steps(uncached),
                      cached[0][1], uncached[0][1], runs)


def timed_decode(model: LoadedModel, ids: torch.Tensor, new_tokens: int,
                 use_cache: bool) -> tuple[list[float], tuple[int, ...]]:
    """Per-token seconds and greedy token ids of one sequence (1, pos); without the cache each step runs it all.

    Each step takes the gate on its own (others wait at most one forward) and is timed inside it.
    """
    times, tokens, cache, sequence, step_ids = [], [], None, ids, ids
    for _ in range(new_tokens):
        with gate.inference(model):
            started = clock()
            output = calls.forward(model, input_ids=step_ids if use_cache else sequence, cache=cache,
                                   use_cache=use_cache, logits_to_keep=1)
            chosen = output.logits[:, -1].argmax(dim=-1, keepdim=True)
            times.append(clock() - started)
        tokens.append(int(chosen[0, 0]))
        cache, step_ids = (output.cache if use_cache else None), chosen
        sequence = torch.cat([sequence, chosen], dim=1)
    return times, tuple(tokens)


def _median_steps(results: list[tuple[list[float], tuple]]) -> np.ndarray:
    return np.median(np.array([times for times, _ in results]), axis=0)  # (new,) across runs


def prefill_and_decode(model: LoadedModel, text: str, new_tokens: int = 16, runs: int = TIMING_RUNS,
                       progress: Progress | None = None) -> PrefillDecode:
    """Prefill and decode speed and this machine's FLOP rate and weight bandwidth, all in one run."""
    check_decoder(model)
    check_new_tokens(new_tokens)
    report = progress or quiet
    ids = prompt_ids(model, text, room=new_tokens)
    prefill, decode = [], []
    for run in range(runs):
        report(0.6 * run / runs, f"Run {run + 1} of {runs}: prefill, then {new_tokens} decode steps…")
        times, _ = timed_decode(model, ids, new_tokens, use_cache=True)
        prefill.append(times[0])
        decode.extend(times[1:] or times)
    report(0.6, "Timing a matrix product and a read of every weight…")
    limits = measure_limits(model, runs)
    report(1.0, "Done.")
    return PrefillDecode(int(ids.shape[1]), median(prefill), median(decode), 2.0 * matmul_parameters(model.model),
                         limits, runs)


def matmul_parameters(net: torch.nn.Module) -> int:
    """Weights used in matrix products per token: every Linear (and GPT-2 Conv1D), the output head included."""
    return sum(m.weight.numel() for m in net.modules()
               if isinstance(m, torch.nn.Linear) or type(m).__name__ == "Conv1D")


def measure_limits(model: LoadedModel, runs: int = TIMING_RUNS, size: int = MATMUL_SIZE) -> Limits:
    """A matrix product's FLOP rate and the bandwidth of reading every weight, timed inside the gate."""
    weights = list(model.model.parameters())  # distinct tensors: a tied embedding is read once
    first = weights[0]
    a = torch.randn(size, size, dtype=first.dtype, device=first.device)
    b = torch.randn(size, size, dtype=first.dtype, device=first.device)
    product, reads = [], []
    with gate.inference(model):
        torch.mm(a, b)  # warm-up: thread pool and allocator
        for _ in range(runs):
            started = clock()
            torch.mm(a, b)
            product.append(clock() - started)
            started = clock()
            for weight in weights:
                weight.sum()
            reads.append(clock() - started)
    weight_bytes = sum(w.numel() * w.element_size() for w in weights)
    return Limits(size, 2.0 * size**3 / median(product), weight_bytes, weight_bytes / median(reads))

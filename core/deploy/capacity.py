"""A capacity planner: memory and expected wait for N users, from measured speeds and the KV cache formula."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_USERS = 100_000


@dataclass(frozen=True)
class CapacityPlan:
    """How N users with the same request shape would be served by one copy of the model."""

    users: int
    batch: int  # requests served together (limited by the measured batches and by memory)
    waves: int  # batches needed to serve everyone once
    wave_seconds: float  # prefill of the batch's prompts plus its answer decoded step by step
    memory_bytes: float  # weights + the batch's KV caches at full length
    all_memory_bytes: float  # weights + every user's KV cache at once (if nobody waited)
    fits_in_memory: int  # requests whose caches fit beside the weights
    assumptions: tuple[str, ...]

    @property
    def mean_wait_seconds(self) -> float:
        """Average time from asking to the full answer, everyone asking at once (served in order)."""
        return (self.waves + 1) / 2 * self.wave_seconds

    @property
    def last_wait_seconds(self) -> float:
        return self.waves * self.wave_seconds


def plan(users: int, prompt_tokens: int, answer_tokens: int, memory_bytes: float, weights_bytes: float,
         cache_bytes_per_token: float, prefill_tokens_per_second: float, batches: Sequence[int],
         batch_tokens_per_second: Sequence[float]) -> CapacityPlan:
    """Plan from measured figures; batch_tokens_per_second[i] is the decode throughput at batches[i]."""
    _check(users, prompt_tokens, answer_tokens, memory_bytes, weights_bytes, prefill_tokens_per_second, batches,
           batch_tokens_per_second)
    per_request = cache_bytes_per_token * (prompt_tokens + answer_tokens)
    fits = max(0, int((memory_bytes - weights_bytes) // per_request))
    if fits < 1:
        raise ValueError(f"Not one request fits: the weights take {weights_bytes / 1e9:,.2f} GB of the "
                         f"{memory_bytes / 1e9:,.2f} GB, and one request's cache needs {per_request / 1e6:,.1f} MB.")
    batch = min(users, max(batches), fits)
    throughput = float(np.interp(batch, batches, batch_tokens_per_second))
    wave = batch * prompt_tokens / prefill_tokens_per_second + batch * answer_tokens / throughput
    assumptions = (
        "Everyone asks at the same moment with the same prompt and answer length; requests are served first come, "
        "first served, in batches.",
        f"A batch holds at most {max(batches)} requests (the largest batch measured) and no more than fit in memory.",
        f"Decoding a batch of {batch} runs at {throughput:,.1f} new tokens/s in all (measured, interpolated between "
        "measured batch sizes); prefill at the measured single-request rate.",
        "Memory counts the weights and every cached token at float precision; activations and the server's own "
        "overhead are left out.",
    )
    return CapacityPlan(users, batch, math.ceil(users / batch), wave, weights_bytes + batch * per_request,
                        weights_bytes + users * per_request, fits, assumptions)


def _check(users, prompt_tokens, answer_tokens, memory_bytes, weights_bytes, prefill_rate, batches, rates) -> None:
    if not 1 <= users <= MAX_USERS:
        raise ValueError(f"Users must be between 1 and {MAX_USERS:,}; got {users:,}.")
    if prompt_tokens < 1 or answer_tokens < 1:
        raise ValueError("Prompt and answer must each be at least 1 token.")
    if memory_bytes <= 0 or weights_bytes <= 0 or prefill_rate <= 0:
        raise ValueError("Memory, weights and the prefill rate must be positive.")
    if not batches or len(batches) != len(rates) or min(rates) <= 0 or list(batches) != sorted(batches):
        raise ValueError("Need measured throughputs for increasing batch sizes, one positive rate per size.")

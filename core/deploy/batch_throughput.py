"""Throughput and latency against batch size: the same request decoded by 1 to 32 rows at once."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from core.deploy.timing import TIMING_RUNS, Progress, check_decoder, check_new_tokens, clock, median, quiet
from core.generation import generate
from core.models import LoadedModel
from core.runtime import gate
from core.sampling import GenerationSettings

MAX_BATCH = 32  # rows decoded at once (32 × 64 new tokens stays inside generation's own batch caps)


@dataclass(frozen=True)
class BatchThroughput:
    """One row per batch size: median seconds for the whole batch, new tokens/s of all requests, latency."""

    table: pd.DataFrame  # batch, seconds, new_tokens, tokens_per_second, latency_seconds
    prompt_tokens: int
    new_tokens: int  # asked per request (a request ends earlier at its end-of-text token)
    same_tokens: bool  # every row of every batch decoded exactly the tokens of batch size 1
    runs: int


def batch_sizes(max_batch: int = MAX_BATCH) -> tuple[int, ...]:
    """Powers of two from 1 up to max_batch (max_batch itself included); ValueError past MAX_BATCH."""
    if not 1 <= max_batch <= MAX_BATCH:
        raise ValueError(f"The largest batch must be between 1 and {MAX_BATCH}; got {max_batch}.")
    sizes = [1 << i for i in range(max_batch.bit_length()) if 1 << i <= max_batch]
    return tuple(sorted({*sizes, max_batch}))


def measure_batches(model: LoadedModel, text: str, new_tokens: int = 16, max_batch: int = MAX_BATCH,
                    runs: int = TIMING_RUNS, progress: Progress | None = None) -> BatchThroughput:
    """Greedy-decode the prompt as 1, 2, 4 … max_batch identical requests; each measured batch is one gate hold."""
    check_decoder(model)
    check_new_tokens(new_tokens)
    report, sizes = progress or quiet, batch_sizes(max_batch)
    settings = GenerationSettings(max_new_tokens=new_tokens)
    rows, reference, same = [], None, True
    for number, batch in enumerate(sizes):
        report(number / len(sizes), f"Batch of {batch}: {runs} runs of {new_tokens} new tokens…")
        times = []
        for _ in range(runs):
            with gate.hold(model):  # generation takes the gate per step; holding it here keeps the batch whole
                started = clock()
                completions = generate(model, [text] * batch, settings)
                times.append(clock() - started)
        tokens = [tuple(c.token_ids.tolist()) for c in completions]
        reference = reference or tokens[0]
        same = same and all(t == reference for t in tokens)
        seconds, count = median(times), sum(len(t) for t in tokens)
        rows.append((batch, seconds, count, count / seconds, seconds))
    report(1.0, "Done.")
    table = pd.DataFrame(rows, columns=["batch", "seconds", "new_tokens", "tokens_per_second", "latency_seconds"])
    prompt_tokens = len(model.tokenizer(text)["input_ids"])
    return BatchThroughput(table, prompt_tokens, new_tokens, same, runs)

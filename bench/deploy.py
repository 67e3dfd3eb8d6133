"""The Deploy page's measurements on the real default model, as ratios within one run (part of run_all).

Run alone with `python bench/deploy.py`. Targets:
  decode 16 tokens after an 80-token prompt, KV cache / none ........... <= 0.5x
  batch 32 / batch 1, seconds per new token (all requests) ............. <= 0.5x
  first token with the system prompt's cache reused / recomputed ...... <= 0.5x
It also prints prefill and decode tokens/s beside this machine's FLOP rate and weight bandwidth,
measured in the same run, and each weight format's size, speed, perplexity and accuracy.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import core  # noqa: E402
from core.deploy import batch_throughput, kv_cache, prefix_reuse, quant_quality, speed  # noqa: E402

PROMPT = "The capital of France is Paris. The capital of Germany is"


def report(name: str, baseline: float, measured: float, target: float) -> None:
    """One line: baseline and measured seconds and their ratio against the target (as run_all prints)."""
    ratio = measured / baseline
    verdict = "ok" if ratio <= target else "OVER TARGET"
    print(f"{name:<48} {baseline * 1000:9.1f} ms -> {measured * 1000:9.1f} ms  "
          f"ratio {ratio:5.2f} (target <= {target}) {verdict}")


def bench_deploy(model: core.LoadedModel, formats: bool = True) -> None:
    """Every Deploy measurement once, printed; the three ratios against their targets."""
    size = kv_cache.cache_size(model, PROMPT)
    print(f"  KV cache: {size.formula_bytes_per_token:,} bytes/token by formula, "
          f"{size.measured_bytes_per_token:,.0f} in the real cache; {size.gqa_saving:.0f}x smaller than full MHA")
    # A prompt of a few dozen tokens: without the cache each step re-runs it (with 12 tokens, reading the weights
    # dominates every step either way and the two differ little: the page's chart shows both cases).
    long_prompt = quant_quality.PERPLEXITY_TEXT.split("\n\n")[0]
    times = speed.decode_with_and_without_cache(model, long_prompt, new_tokens=16)
    report(f"deploy: decode 16 after {times.prompt_tokens} tokens, cache vs none", times.uncached_seconds.sum(),
           times.cached_seconds.sum(), 0.5)
    result = speed.prefill_and_decode(model, PROMPT, new_tokens=16)
    limits = result.limits
    print(f"  prefill {result.prefill_tokens_per_second:,.0f} tokens/s ({result.prompt_tokens} tokens) vs "
          f"{result.prefill_bound:,.0f} at the matmul rate {limits.flops_per_second / 1e9:,.1f} GFLOP/s "
          f"({result.prefill_tokens_per_second / result.prefill_bound:.0%})")
    print(f"  decode {result.decode_tokens_per_second:,.1f} tokens/s vs {result.decode_bound:,.1f} at the weight "
          f"bandwidth {limits.bandwidth / 1e9:,.1f} GB/s over {limits.weight_bytes / 1e6:,.0f} MB "
          f"({result.decode_tokens_per_second / result.decode_bound:.0%})")
    batches = batch_throughput.measure_batches(model, PROMPT, new_tokens=16)
    table = batches.table.set_index("batch")
    print("  batching:", ", ".join(f"{b}: {r:,.1f} tok/s, {s:,.2f} s" for b, r, s in
                                   zip(table.index, table["tokens_per_second"], table["latency_seconds"])))
    report("deploy: s per new token, batch 32 vs 1", 1 / table["tokens_per_second"][1],
           1 / table["tokens_per_second"][32], 0.5)
    prefix = prefix_reuse.measure_prefix_reuse(model, "What does the KV cache hold?")
    report(f"deploy: first token, {prefix.prefix_tokens}-token prefix reused", prefix.cold_seconds,
           prefix.warm_seconds, 0.5)
    if formats:
        print_formats(model)


def print_formats(model: core.LoadedModel) -> None:
    """Every weight format this machine builds (torchao's too), side by side."""
    table = quant_quality.measure_formats(model, formats=quant_quality.FORMATS)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.drop(columns="note").round(2).to_string(index=False))


if __name__ == "__main__":
    torch.manual_seed(0)
    loaded = core.load_model()
    print(f"model: {loaded.info.name}, torch threads: {torch.get_num_threads()}")
    if "--formats-only" in sys.argv:
        print_formats(loaded)
    else:
        bench_deploy(loaded, formats="--no-formats" not in sys.argv)

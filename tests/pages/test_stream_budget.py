"""Generation streams live in the one byte budget (LLM_LENS_CACHE_MB), measured by what they hold."""

from __future__ import annotations

import core
from core import result_budget
from ui.caching import cache, generation_cache

PROMPTS = ("The river runs",) * 4


def _pause(name: str, settings: core.GenerationSettings, steps: int = 2) -> None:
    """Read a few steps of the cached stream, then stop, as a rerun in the middle of streaming does."""
    reader = generation_cache.stream_generation(name, PROMPTS, settings)
    for _ in range(steps):
        next(reader)
    reader.close()


def test_the_byte_budget_evicts_a_paused_stream_and_the_next_reader_recomputes_it(tiny_llama_path, monkeypatch):
    name = str(tiny_llama_path)
    first, second = (core.GenerationSettings(max_new_tokens=8, do_sample=True, seed=s) for s in (4, 5))
    key_first, key_second = (generation_cache.get_generation_stream.key(name, PROMPTS, s) for s in (first, second))
    runs = []
    real = core.stream_generate
    monkeypatch.setattr(core, "stream_generate", lambda *a: runs.append(a[2].seed) or real(*a))

    monkeypatch.setattr(cache, "RESULTS", result_budget.ByteBudgetCache(2**30))
    _pause(name, first)
    paused = cache.RESULTS.used_bytes  # one paused stream: its KV cache and tokens
    assert paused > 0

    budget = paused + paused // 2  # room for one paused stream, not two of the same size
    monkeypatch.setattr(cache, "RESULTS", result_budget.ByteBudgetCache(budget))
    _pause(name, first)
    assert key_first in cache.RESULTS and cache.RESULTS.used_bytes == paused
    _pause(name, second)
    assert key_first not in cache.RESULTS and key_second in cache.RESULTS  # the older stream went
    assert cache.RESULTS.used_bytes <= budget

    finished = list(generation_cache.stream_generation(name, PROMPTS, second))  # resumes the paused run
    assert len(runs) == 3 and cache.RESULTS.used_bytes < paused  # done: completions only, no KV cache
    expected = core.generate(cache.get_model(name), list(PROMPTS), second)
    assert [c.token_ids.tolist() for c in finished[-1].completions] == [c.token_ids.tolist() for c in expected]

    again = list(generation_cache.stream_generation(name, PROMPTS, first))  # evicted: computed again, same result
    assert runs == [4, 4, 5, 4]
    expected = core.generate(cache.get_model(name), list(PROMPTS), first)
    assert [c.token_ids.tolist() for c in again[-1].completions] == [c.token_ids.tolist() for c in expected]

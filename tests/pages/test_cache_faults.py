"""The Streamlit cache layer under faults: broken streams are dropped, model slots stay sane."""

from __future__ import annotations

import pytest

import core
from ui import cache


def test_broken_generation_stream_is_dropped_and_the_rerun_recomputes(tiny_llama_path, monkeypatch):
    real = core.stream_generate
    runs = []

    def breaks_first_time(model, prompts, settings):
        runs.append(len(runs))
        for number, step in enumerate(real(model, prompts, settings)):
            if len(runs) == 1 and number == 2:
                raise RuntimeError("connection lost mid-run")
            yield step

    monkeypatch.setattr(core, "stream_generate", breaks_first_time)
    name, prompts = str(tiny_llama_path), ("The capital of France is",)
    settings = core.GenerationSettings(max_new_tokens=6, seed=11)
    cache.get_generation_stream.clear()
    with pytest.raises(RuntimeError, match="connection lost"):
        list(cache.stream_generation(name, prompts, settings))
    steps = list(cache.stream_generation(name, prompts, settings))
    assert len(runs) == 2  # recomputed, not replayed from the broken run
    final = steps[-1].completions
    assert final is not None and len(final[0].token_ids) == 6
    expected = core.generate(cache.get_model(name), list(prompts), settings)[0]
    assert final[0].token_ids.tolist() == expected.token_ids.tolist()
    list(cache.stream_generation(name, prompts, settings))
    assert len(runs) == 2  # a good run stays cached

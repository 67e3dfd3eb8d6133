"""The Streamlit cache layer under faults: broken streams are dropped, model slots stay sane."""

from __future__ import annotations

import pytest

import core
from ui.caching import cache, generation_cache


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
    generation_cache.get_generation_stream.clear()
    with pytest.raises(RuntimeError, match="connection lost"):
        list(generation_cache.stream_generation(name, prompts, settings))
    steps = list(generation_cache.stream_generation(name, prompts, settings))
    assert len(runs) == 2  # recomputed, not replayed from the broken run
    final = steps[-1].completions
    assert final is not None and len(final[0].token_ids) == 6
    expected = core.generate(cache.get_model(name), list(prompts), settings)[0]
    assert final[0].token_ids.tolist() == expected.token_ids.tolist()
    list(generation_cache.stream_generation(name, prompts, settings))
    assert len(runs) == 2  # a good run stays cached


def test_typos_never_take_a_slot_and_the_default_stays_pinned(
    tiny_llama_path, tiny_gpt2_path, tiny_bert_path, tmp_path, monkeypatch
):
    import tiny_models

    monkeypatch.setenv("LLM_LENS_MODEL", str(tiny_llama_path))
    monkeypatch.delenv("LLM_LENS_ALLOW_OTHER_MODELS", raising=False)
    cache._pinned_slot.clear()
    cache._other_slot.clear()
    default = cache.get_model(str(tiny_llama_path))
    loads = []
    real_load = core.load_model
    monkeypatch.setattr(core, "load_model", lambda name, progress=None: loads.append(name) or real_load(name, progress))
    for typo in ("SmolLM2-135M-Instrukt", str(tmp_path / "nope"), "not a name"):
        with pytest.raises(ValueError, match="Unknown model"):
            cache.get_model(typo)
    assert loads == []  # refused before any slot or load
    others = [tiny_gpt2_path, tiny_bert_path, tiny_models.tiny_gpt2(tmp_path / "third", seed=1)]
    for path in others:  # more other models than there are slots: they evict each other, never the default
        cache.get_model(str(path))
    assert cache.get_model(str(tiny_llama_path)) is default
    assert loads == [str(p) for p in others]


def test_a_failed_load_gives_its_slot_back(tiny_llama_path, tiny_gpt2_path, tiny_bert_path, tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_LENS_MODEL", str(tiny_llama_path))
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text((tiny_llama_path / "config.json").read_text())  # no weights
    cache._other_slot.clear()
    first = cache.get_model(str(tiny_gpt2_path))
    for _ in range(3):
        with pytest.raises(ValueError, match="Could not load the model folder 'broken-model'"):
            cache.get_model(str(broken))
    cache.get_model(str(tiny_bert_path))  # fills the second of the two slots
    assert cache.get_model(str(tiny_gpt2_path)) is first  # the broken folder held no slot, so nothing was evicted


def test_read_only_cache_parses_once_and_keeps_the_model(tiny_llama_path, tmp_path, monkeypatch):
    import importlib

    import tiny_models

    from core import models, weights_copy

    package = tmp_path / "site" / "tiny_gguf_pkg2"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    tiny_models.write_tiny_gguf(tiny_llama_path, package / "tiny.gguf")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    spec = models.ModelSpec("tiny-gguf-2", "tiny_gguf_pkg2", "tiny.gguf", "")
    monkeypatch.setitem(models.BUNDLED, "tiny-gguf-2", spec)
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    parses = []
    real = weights_copy.convert_gguf
    monkeypatch.setattr(weights_copy, "convert_gguf", lambda *a, **k: parses.append(1) or real(*a, **k))
    first = cache.get_model("tiny-gguf-2")
    for _ in range(3):  # reruns
        assert cache.get_model("tiny-gguf-2") is first
    assert parses == [1] and first.warnings == (weights_copy.CACHE_NOT_WRITTEN,)

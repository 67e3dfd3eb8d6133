"""The page tests' clean slate (tests/pages/conftest.py): results are forgotten, loaded models are kept."""

from __future__ import annotations

from page_kit import KEEP, clear_results

from ui.caching import cache, tokens_cache


def test_each_test_starts_with_an_empty_byte_budget():
    assert len(cache.RESULTS) == 0 and cache.RESULTS.used_bytes == 0


def test_results_are_forgotten_and_models_kept(tiny_llama_path):
    name = str(tiny_llama_path)
    model = cache.get_model(name)
    analysis = cache.get_analysis(name, "The river bank was muddy.")
    tokens = cache.get_tokens(name, "The river bank was muddy.")
    assert len(cache.RESULTS) == 1
    clear_results()
    assert len(cache.RESULTS) == 0
    assert cache.get_model(name) is model  # the loaded model stays: no reload per test
    assert cache.get_tokens(name, "The river bank was muddy.") is not tokens  # cache_resource results go
    assert cache.get_analysis(name, "The river bank was muddy.") is not analysis  # so do the byte budget's


def test_only_model_and_tokenizer_holders_are_kept():
    kept = {getattr(__import__(module, fromlist=[name]), name) for module, name in KEEP}
    assert kept == {cache._pinned_slot, cache._other_slot, tokens_cache.get_tokenizer}

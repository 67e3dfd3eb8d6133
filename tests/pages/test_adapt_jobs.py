"""Fine-tuning jobs of the Adapt page: one per session, queued server-wide, stopped and freed on a model switch."""

from __future__ import annotations

from core.adapt import data, lora
from ui.caching import adapt_cache, cache

ROWS = [(f"great film number {i}", "positive") for i in range(6)] + \
       [(f"boring film number {i}", "negative") for i in range(6)]
SETTINGS = lora.LoraSettings(epochs=2, batch_size=4, learning_rate=5e-2)


def _start(model, name: str) -> dict:
    adapt_cache.start_training(model, name, data.split_rows(ROWS, 0.34), "Classify.", SETTINGS, 1)
    return adapt_cache.session_job(name)


def test_a_job_trains_scores_and_is_freed_when_the_model_changes(tiny_llama, tiny_llama_path):
    name = str(tiny_llama_path)
    job = _start(tiny_llama, name)
    assert job["done"].wait(120)
    assert job["error"] is None and job["status"] == "Done", (job["status"], job["error"])
    assert job["progress"].step == job["progress"].steps
    assert list(job["bought"]["way"])[2] == "fine-tuned zero-shot"
    assert adapt_cache.adapted_model(name) is not None
    assert adapt_cache.adapter_zip(name)[:2] == b"PK"
    held = job["run"].held_bytes()
    assert held == lora.trainable_parameters(job["run"].peft_model) * 4 * 3 > 0
    assert cache.RESULTS.pinned_bytes == held  # the adapter and AdamW's moments count against the budget
    assert adapt_cache.session_job("tiny-b") is None  # this session switched model
    assert job["run"] is None and job["stop"].is_set()  # adapter and optimiser state freed
    assert cache.RESULTS.pinned_bytes == 0  # and their bytes given back
    assert adapt_cache.session_job(name) is None


def test_a_queued_job_waits_its_turn_and_stops_before_training(tiny_llama):
    with adapt_cache.training_queue().turn():  # another session's run holds the only slot
        job = _start(tiny_llama, "tiny-queued")
        assert not job["done"].is_set()
        adapt_cache.stop_training("tiny-queued")
        assert job["done"].wait(60)
    assert job["status"] == "Stopped before it started" and job["run"] is None


def test_a_failing_run_says_why(tiny_llama):
    adapt_cache.start_training(tiny_llama, "tiny-bad", data.split_rows(ROWS, 0.34), "Classify.",
                               lora.LoraSettings(epochs=lora.MAX_STEPS, batch_size=1), 1)
    job = adapt_cache.session_job("tiny-bad")
    assert job["done"].wait(60)
    assert job["status"] == "Failed" and f"limit is {lora.MAX_STEPS}" in job["error"]


def test_an_adapter_past_the_memory_budget_is_a_message_and_holds_nothing(tiny_llama, monkeypatch):
    monkeypatch.setattr(cache.RESULTS, "budget_bytes", 1_000)
    job = _start(tiny_llama, "tiny-small-budget")
    assert job["done"].wait(60)
    assert job["status"] == "Failed" and "memory budget (LLM_LENS_CACHE_MB" in job["error"], job["error"]
    assert job["run"] is None and cache.RESULTS.pinned_bytes == 0


def test_cached_results_make_room_for_an_adapter(tiny_llama, monkeypatch):
    import numpy as np

    run_bytes = lora.LoraRun(tiny_llama, data.split_rows(ROWS, 0.34), "Classify.", SETTINGS).held_bytes()
    monkeypatch.setattr(cache.RESULTS, "budget_bytes", run_bytes + 1_000)
    cache.RESULTS.get("an old result", lambda: np.zeros(600, dtype=np.uint8))
    cache.RESULTS.get("a newer result", lambda: np.zeros(600, dtype=np.uint8))
    job = _start(tiny_llama, "tiny-evicts")
    assert job["done"].wait(120) and job["error"] is None, job["error"]
    assert "an old result" not in cache.RESULTS and "a newer result" in cache.RESULTS
    assert cache.RESULTS.used_bytes <= cache.RESULTS.budget_bytes

"""Fine-tuning jobs of the Adapt page: one per session, queued server-wide, stopped and freed on a model switch."""

from __future__ import annotations

from core.adapt import data, lora
from ui.caching import adapt_cache

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
    assert adapt_cache.session_job("tiny-b") is None  # this session switched model
    assert job["run"] is None and job["stop"].is_set()  # adapter and optimiser state freed
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

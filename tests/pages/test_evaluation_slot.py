"""One evaluation slot per identical request: two sessions starting it at once run it once and share the result."""

from __future__ import annotations

import threading
import time

import pytest

from core.prompting import eval_report, prompt_eval
from core.sampling import GenerationSettings
from ui.caching import cache

REQUEST = prompt_eval.EvalRequest(
    "Sentiment?", (("Loved it", "positive"), ("Hated it", "negative")), (("so good", "positive"), ("bad", "negative")),
    GenerationSettings(max_new_tokens=2), few_k=2, seed=12345,  # a seed no other test uses: a fresh slot
)


def _wait(slot: dict, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while slot["running"] and time.monotonic() < deadline:
        time.sleep(0.02)


def test_two_sessions_starting_the_same_evaluation_run_it_once(tiny_llama, monkeypatch):
    calls = []
    real = prompt_eval.evaluate

    def counted(*args, **kwargs):
        calls.append(threading.get_ident())
        time.sleep(0.2)  # long enough for the second session to arrive while the first runs
        return real(*args, **kwargs)

    monkeypatch.setattr(prompt_eval, "evaluate", counted)
    sessions = [threading.Thread(target=cache.start_prompt_evaluation, args=(tiny_llama, "tiny", REQUEST, 1.0))
                for _ in range(2)]
    for session in sessions:
        session.start()
    for session in sessions:
        session.join()
    slot = cache.prompt_evaluation("tiny", REQUEST)
    _wait(slot)
    assert len(calls) == 1 and not slot["running"]
    result = slot["result"]
    assert not result.partial and len(result.predictions) == 3 * 2
    cache.start_prompt_evaluation(tiny_llama, "tiny", REQUEST, 1.0)  # finished: asking again reuses it
    _wait(slot)
    assert len(calls) == 1 and slot["result"] is result


def test_a_stopped_evaluation_is_partial_and_starting_it_again_runs_it(tiny_llama, monkeypatch):
    request = prompt_eval.EvalRequest(**{**REQUEST.__dict__, "seed": 54321})
    real = prompt_eval.evaluate

    def stopped_at_once(*args, **kwargs):
        cache.stop_prompt_evaluation("tiny", request)  # Stop pressed before the first batch
        return real(*args, **kwargs)

    monkeypatch.setattr(prompt_eval, "evaluate", stopped_at_once)
    cache.start_prompt_evaluation(tiny_llama, "tiny", request, 1.0)
    slot = cache.prompt_evaluation("tiny", request)
    _wait(slot)
    assert slot["result"].partial and slot["result"].predictions.empty
    monkeypatch.setattr(prompt_eval, "evaluate", real)
    cache.start_prompt_evaluation(tiny_llama, "tiny", request, 1.0)  # a partial result does not block a new run
    _wait(slot)
    assert not slot["result"].partial and len(slot["result"].predictions) == 3 * 2


def test_an_exported_experiment_carries_probabilities_mode_and_calibration(tiny_llama):
    import json

    from core import prompting

    result = prompt_eval.evaluate(tiny_llama, REQUEST)
    records = eval_report.result_records(result)
    text = prompting.experiment_to_json({"instruction": "Sentiment?", "examples": list(REQUEST.examples),
                                         "query": "q", "format": "plain", "few_k": 2, "mode": "rank",
                                         "results": records})
    assert "NaN" not in text
    loaded = prompting.experiment_from_json(text)
    assert loaded["mode"] == "rank" and loaded["results"]["mode"] == "rank"
    prediction = loaded["results"]["predictions"][0]
    assert prediction["p(positive)"] + prediction["p(negative)"] == pytest.approx(1.0)
    assert {"ece", "calibrated_accuracy", "macro_f1"} <= set(loaded["results"]["strategies"][0])
    assert json.loads(text)["results"]["items"][0]["few-shot (k=2) probabilities"].count(" · ") == 1

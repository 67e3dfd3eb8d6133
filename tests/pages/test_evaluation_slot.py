"""One evaluation slot per identical request: two sessions starting it at once run it once and share the result."""

from __future__ import annotations

import queue
import threading

import pytest

from core.prompting import eval_report, prompt_eval
from core.sampling import GenerationSettings
from ui.caching import prompting_cache
from ui.caching.single_flight import Flight

REQUEST = prompt_eval.EvalRequest(
    "Sentiment?", (("Loved it", "positive"), ("Hated it", "negative")), (("so good", "positive"), ("bad", "negative")),
    GenerationSettings(max_new_tokens=2), few_k=2, seed=12345,
)


@pytest.fixture
def finished(monkeypatch) -> queue.Queue:
    """One item per evaluation worker that has settled (its slot no longer says running):
    `finished.get(timeout=...)` waits for the next."""
    ended: queue.Queue = queue.Queue()
    real = Flight.start

    def start(self, compute, prepare=None, settled=None):
        def done() -> None:
            try:
                if settled is not None:
                    settled()
            finally:
                ended.put(True)
        return real(self, compute, prepare, done)

    monkeypatch.setattr(Flight, "start", start)  # background workers: only the evaluation starts one
    return ended


def _wait(finished: queue.Queue, slot: dict, seconds: float = 120) -> None:
    """Wait for the running worker to end (the slot says none runs afterwards)."""
    assert finished.get(timeout=seconds), "the evaluation worker did not end"
    assert not slot["running"]


def test_two_sessions_starting_the_same_evaluation_run_it_once(tiny_llama, monkeypatch, finished):
    calls = []
    real = prompt_eval.evaluate
    both_asked = threading.Event()

    def counted(*args, **kwargs):
        calls.append(threading.get_ident())
        assert both_asked.wait(30)  # the second session arrives while the first one's run is in progress
        return real(*args, **kwargs)

    monkeypatch.setattr(prompt_eval, "evaluate", counted)
    start = prompting_cache.start_prompt_evaluation
    sessions = [threading.Thread(target=start, args=(tiny_llama, "tiny", REQUEST, 1.0)) for _ in range(2)]
    for session in sessions:
        session.start()
    for session in sessions:
        session.join()
    both_asked.set()
    slot = prompting_cache.prompt_evaluation("tiny", REQUEST)
    _wait(finished, slot)
    assert len(calls) == 1 and not slot["running"] and finished.empty()  # one worker ran
    result = slot["result"]
    assert not result.partial and len(result.predictions) == 3 * 2
    prompting_cache.start_prompt_evaluation(tiny_llama, "tiny", REQUEST, 1.0)  # finished: asking again reuses it
    assert not slot["running"]  # no worker started (it would be marked running before this returns)
    assert len(calls) == 1 and slot["result"] is result


def test_a_stopped_evaluation_is_partial_and_starting_it_again_runs_it(tiny_llama, monkeypatch, finished):
    request = prompt_eval.EvalRequest(**{**REQUEST.__dict__, "seed": 54321})
    real = prompt_eval.evaluate

    def stopped_at_once(*args, **kwargs):
        prompting_cache.stop_prompt_evaluation("tiny", request)  # Stop pressed before the first batch
        return real(*args, **kwargs)

    monkeypatch.setattr(prompt_eval, "evaluate", stopped_at_once)
    prompting_cache.start_prompt_evaluation(tiny_llama, "tiny", request, 1.0)
    slot = prompting_cache.prompt_evaluation("tiny", request)
    _wait(finished, slot)
    assert slot["result"].partial and slot["result"].predictions.empty
    monkeypatch.setattr(prompt_eval, "evaluate", real)
    # a partial result does not block a new run
    prompting_cache.start_prompt_evaluation(tiny_llama, "tiny", request, 1.0)
    _wait(finished, slot)
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

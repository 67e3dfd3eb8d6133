"""Lanes: a batch split across cores gives the same numbers, runs its pieces at once, and fails cleanly."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import core
from core.runtime import batching, lanes

PROMPTS = ["The river bank was muddy after the rain.", "Hi", "A", "Paris is the capital of France and",
           "one two three four five six seven eight nine ten eleven"]


def _padded_cost(lengths, groups) -> int:
    return max(len(g) * max(lengths[i] for i in g) for g in groups)


@pytest.mark.parametrize("lengths, lanes_wanted", [([40] * 20, 2), ([40] * 19 + [500], 2), ([3, 90, 7, 40, 41], 2),
                                                    ([5, 6, 7], 8), ([12], 2), ([9, 1, 4], 1), ([30] * 7, 3)])
def test_split_covers_every_row_once_in_groups_of_similar_length(lengths, lanes_wanted):
    groups = lanes.split(lengths, lanes_wanted)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    assert 1 <= len(groups) <= min(lanes_wanted, len(lengths)) and all(groups)
    ordered = [lengths[i] for g in groups for i in g]
    assert ordered == sorted(lengths)  # consecutive by length: a group's padding is small
    assert _padded_cost(lengths, groups) <= _padded_cost(lengths, [list(range(len(lengths)))])


def test_split_balances_the_lanes():
    assert [len(g) for g in lanes.split([40] * 20, 2)] == [10, 10]
    long_one = lanes.split([40] * 19 + [500], 2)
    assert long_one[-1] == [19]  # the long prompt alone: the short ones are not padded to 500
    assert lanes.split([], 2) == []


def test_run_keeps_order_and_runs_the_jobs_at_once():
    meet = threading.Barrier(3, timeout=10)  # only passes if all three jobs wait at the same time
    names = []

    def job(value):
        def go():
            meet.wait()
            names.append(threading.current_thread().name)
            assert torch.is_inference_mode_enabled()
            return value
        return go

    assert lanes.run([job("a"), job("b"), job("c")]) == ["a", "b", "c"]
    assert len(set(names)) == 3


def test_a_failing_lane_raises_after_every_lane_stopped():
    failed, finished = threading.Event(), threading.Event()

    def slow():
        assert failed.wait(10)  # still running when the other lane fails
        finished.set()
        return 1

    def broken():
        failed.set()
        raise RuntimeError("lane failed")

    with pytest.raises(RuntimeError, match="lane failed"):
        lanes.run([broken, slow])
    assert finished.is_set()  # the other lane was not left running behind the released gate


def test_count_is_cores_over_torch_threads(monkeypatch, tiny_llama):
    monkeypatch.setattr(lanes.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    assert lanes.count(tiny_llama) == 2
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    assert lanes.count(tiny_llama) == 1
    monkeypatch.setattr(lanes.os, "cpu_count", lambda: None)
    assert lanes.count(tiny_llama) == 1


@pytest.mark.parametrize("name", ["tiny_llama", "tiny_gpt2", "tiny_bert"])
def test_forward_many_in_lanes_equals_one_forward(name, request, monkeypatch):
    model = request.getfixturevalue(name)
    rows = [core.tokenize(model, text).ids for text in PROMPTS]
    monkeypatch.setattr(lanes, "count", lambda model: 1)
    whole = batching.forward_many(model, rows)
    calls = []
    monkeypatch.setattr(lanes, "count", lambda model: 2)
    hook = model.model.register_forward_pre_hook(lambda module, args: calls.append(threading.current_thread().name))
    try:
        split = batching.forward_many(model, rows)
    finally:
        hook.remove()
    assert len(calls) == 2 and len(set(calls)) == 2  # two padded forwards, on two threads
    for one, other in zip(whole, split):
        np.testing.assert_allclose(other.attention, one.attention, atol=1e-5)
        np.testing.assert_allclose(other.hidden_states, one.hidden_states, atol=1e-5)
        np.testing.assert_allclose(other.embeddings, one.embeddings, atol=1e-6)
        if model.info.is_decoder:
            np.testing.assert_allclose(other.next_token_logits, one.next_token_logits, atol=1e-5)

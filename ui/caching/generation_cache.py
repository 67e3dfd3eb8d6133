"""Streamlit caching of the Generation page: streams in the result budget, step predictions, the logit lens."""

from __future__ import annotations

from collections.abc import Iterator

import core
from core import lens, prediction
from ui.caching import cache


@cache.by_bytes  # measured by what the run holds: its KV cache and tokens while paused, its completions once done
def get_generation_stream(
    model_name: str, prompts: tuple[str, ...], settings: core.GenerationSettings
) -> prediction.RecordedStream:
    """A batched generation run that remembers its progress: the first reader streams, reruns replay."""
    return prediction.RecordedStream(core.stream_generate(cache.get_model(model_name), list(prompts), settings))


def stream_generation(
    model_name: str, prompts: tuple[str, ...], settings: core.GenerationSettings
) -> Iterator[core.generation.GenerationStep]:
    """The cached generation run's steps; a run that failed is dropped, so the next rerun recomputes.

    A stream grows by one token of KV cache per row and step, so its entry is measured again after
    every step: the byte budget evicts the oldest results (or paused streams) to make room.
    """
    stream = get_generation_stream(model_name, prompts, settings)
    key = get_generation_stream.key(model_name, prompts, settings)
    try:
        for step in stream:
            cache.RESULTS.remeasure(key)
            yield step
    finally:
        if stream.failed:
            get_generation_stream.clear(model_name, prompts, settings)
        else:
            cache.RESULTS.remeasure(key)  # paused or finished: what it holds now (finished: no KV cache)


@cache.by_bytes
def get_step_prediction(model_name: str, prompt: str, chosen_ids: tuple[int, ...]) -> prediction.StepPrediction:
    """Next-token logits after the prompt plus the tokens chosen so far (one forward pass)."""
    return prediction.predict_step(cache.get_model(model_name), prompt, chosen_ids)


@cache.by_bytes
def get_logit_lens(model_name: str, text: str) -> lens.LogitLens:
    """Every layer's would-be prediction for the last positions of text, from its cached analysis."""
    return lens.logit_lens(cache.get_model(model_name), cache.get_analysis(model_name, text))

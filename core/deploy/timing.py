"""Shared pieces of the deploy measurements: caps, the progress callback, prompt ids and medians."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from core.analysis import check_length
from core.models import LoadedModel
from core.runtime import devices

Progress = Callable[[float, str], None]
TIMING_RUNS = 3  # every timing is the median of this many runs (the machine is shared: single runs are noisy)
MAX_NEW_TOKENS = 64  # new tokens per measured decode
MAX_PROMPT_TOKENS = 512  # prompt tokens per measured prefill


def quiet(fraction: float, message: str) -> None:
    """A progress callback that shows nothing."""


def check_decoder(model: LoadedModel) -> None:
    """ValueError for an encoder: these measurements decode new tokens."""
    if not model.info.is_decoder:
        raise ValueError(f"{model.name} is an encoder: it reads text but does not generate it, so it has no "
                         "decode step to measure. Choose a decoder model.")


def check_new_tokens(new_tokens: int) -> None:
    """ValueError naming the cap when new_tokens is out of range."""
    if not 1 <= new_tokens <= MAX_NEW_TOKENS:
        raise ValueError(f"New tokens must be between 1 and {MAX_NEW_TOKENS}; got {new_tokens}.")


def prompt_ids(model: LoadedModel, text: str, room: int = 0) -> torch.Tensor:
    """(1, pos) prompt ids on the model's device; ValueError when empty or past the cap or context window."""
    ids = model.tokenizer(text, return_tensors="pt", verbose=False)["input_ids"]
    if ids.shape[1] < 1:
        raise ValueError("The prompt is empty: type some text to measure.")
    check_length(model, int(ids.shape[1]), MAX_PROMPT_TOKENS)
    check_length(model, int(ids.shape[1]) + room, None, what="Prompt plus the new tokens")
    return devices.to_model(model, ids)


def median(values: list[float]) -> float:
    """The median of a non-empty list of timings."""
    return float(statistics.median(values))


def clock() -> float:
    """A monotonic time in seconds, synchronised with an accelerator when the model runs on one."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
    return time.perf_counter()

"""What each weight format costs: size, speed, perplexity and Prompt strategies accuracy, side by side."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from core import prompting
from core.deploy.speed import timed_decode
from core.deploy.timing import TIMING_RUNS, Progress, check_decoder, check_new_tokens, median, prompt_ids, quiet
from core.models import LoadedModel
from core.prompting import prompt_eval
from core.quantize import serialized_bytes
from core.runtime import calls, devices, gate
from core.sampling import GenerationSettings

PERPLEXITY_TEXT = (Path(__file__).resolve().parents[2] / "data" / "deploy" / "perplexity.txt").read_text("utf-8")
FORMATS = ("float32", "int8 dynamic")
MAX_FORMATS_AT_ONCE = 1  # quantized copies alive at a time: each is built, measured, then freed
EVAL_PRESET = "Movie-review sentiment"
COLUMNS = ["format", "megabytes", "prefill_tokens_per_second", "decode_tokens_per_second", "perplexity",
           "zero_shot_accuracy", "few_shot_accuracy", "note"]


def copy_bytes(model: LoadedModel) -> int:
    """Bytes a quantized copy may hold while it is built: the float weights it is copied from."""
    return sum(p.numel() * p.element_size() for p in model.model.parameters())


def perplexity(model: LoadedModel, ids: torch.Tensor) -> float:
    """exp(mean negative log-likelihood of each next token) over ids (1, pos), in float64."""
    with gate.inference(model):
        logits = calls.forward(model, input_ids=ids).logits[0, :-1].double().cpu()
    logprobs = torch.log_softmax(logits, dim=-1).gather(1, ids.cpu()[0, 1:, None])[:, 0]
    return float(torch.exp(-logprobs.mean()))


def measure_formats(model: LoadedModel, new_tokens: int = 16, runs: int = TIMING_RUNS, evaluate: bool = True,
                    progress: Progress | None = None) -> pd.DataFrame:
    """One row per format in FORMATS (see COLUMNS); the shared model is copied, never changed."""
    check_decoder(model)
    check_new_tokens(new_tokens)
    report = progress or quiet
    ids = prompt_ids(model, PERPLEXITY_TEXT[: _chars_that_fit(model)])
    rows = []
    for number, name in enumerate(FORMATS):
        report(number / len(FORMATS), f"{name}: building…")
        if name != "float32" and devices.model_device(model).type != "cpu":
            rows.append((name, *[np.nan] * 6, "torch's dynamic int8 kernels run on the CPU only"))
            continue
        variant = model if name == "float32" else _int8_copy(model)
        step = lambda f, m, n=number, label=name: report((n + f) / len(FORMATS), f"{label}: {m}")  # noqa: E731
        rows.append(_measure(variant, name, ids, new_tokens, runs, evaluate, step))
        del variant  # the quantized copy is freed before the next format is built
    report(1.0, "Done.")
    return pd.DataFrame(rows, columns=COLUMNS)


def _chars_that_fit(model: LoadedModel) -> int:
    """Characters of the bundled text to use: all of it unless the context window is tiny (test models)."""
    return len(PERPLEXITY_TEXT) if model.info.context_window >= 1024 else model.info.context_window // 2


def _int8_copy(model: LoadedModel) -> LoadedModel:
    """A dynamic-int8 copy of every nn.Linear (torch.ao, CPU), taken inside the gate so no one writes meanwhile."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch marks this API deprecated in favour of torchao
        from torch.ao.quantization import quantize_dynamic

        with gate.hold(model):
            network = quantize_dynamic(model.model, {torch.nn.Linear}, dtype=torch.qint8, inplace=False)
    return dataclasses.replace(model, model=network)


def _measure(model: LoadedModel, name: str, ids: torch.Tensor, new_tokens: int, runs: int, evaluate: bool,
             report: Progress) -> tuple:
    report(0.1, "size and speed…")
    prompt = ids[:, : max(1, ids.shape[1] - new_tokens)]  # the text's start, leaving room for the new tokens
    prefill, decode = [], []
    for _ in range(runs):
        times, _ = timed_decode(model, prompt, new_tokens, True)
        prefill.append(times[0])
        decode.extend(times[1:] or times)
    report(0.4, "perplexity…")
    ppl = perplexity(model, ids)
    zero, few, note = np.nan, np.nan, ""
    if evaluate:
        report(0.5, f"{EVAL_PRESET} evaluation…")
        try:
            zero, few = sentiment_accuracy(model)
        except ValueError as error:  # e.g. a test model's context window is too small for the shots
            note = str(error)
    return (name, serialized_bytes(model.model) / 1e6, prompt.shape[1] / median(prefill), 1 / median(decode), ppl,
            zero, few, note)


def sentiment_accuracy(model: LoadedModel) -> tuple[float, float]:
    """(zero-shot, few-shot) accuracy on the bundled sentiment set, ranked labels as on Prompt strategies."""
    task = prompting.PRESETS[EVAL_PRESET]
    items = prompting.load_eval_set(task)
    request = prompt_eval.EvalRequest(
        instruction=task.instruction, examples=task.examples,
        items=tuple(zip(items["text"], items["label"])), settings=GenerationSettings(), few_k=task.few_k,
        shot_influence=False,
    )
    strategies = prompt_eval.evaluate(model, request).strategies.set_index("k")["accuracy"]
    return float(strategies.loc[0]), float(strategies.loc[task.few_k])

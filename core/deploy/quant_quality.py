"""What each weight format costs: size, speed, perplexity and Prompt strategies accuracy, side by side."""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
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
INT8_WEIGHT_ONLY, INT4_WEIGHT_ONLY = "int8 weight-only (torchao)", "int4 weight-only (torchao)"
FORMATS = ("float32", "int8 dynamic", INT8_WEIGHT_ONLY, INT4_WEIGHT_ONLY)
DEFAULT_FORMATS = FORMATS[:2]  # the torchao ones decode several times slower on a CPU: measured when asked for
INT4_GROUP = 32  # int4 weights share one scale per 32 inputs (torchao's usual group size)
FORMAT_NOTES = {  # what each format is (the page lists them under the table)
    "float32": "the shared model as loaded",
    "int8 dynamic": "torch.ao quantize_dynamic: int8 weights, activations quantized per step, fused int8 kernels",
    INT8_WEIGHT_ONLY: "torchao Int8WeightOnlyConfig: int8 weights per output channel, float32 activations; on "
                      "a CPU torchao has no fused kernel for it, so each step dequantizes the weights (slower "
                      "decoding, not faster)",
    INT4_WEIGHT_ONLY: f"torchao IntxWeightOnlyConfig(int4, groups of {INT4_GROUP}): int4 values and their scales, "
                      "stored one per byte on a CPU (torchao's packed int4 layout needs the mslk kernels, "
                      "GPU only), so it is no smaller than int8: a measure of int4's quality, not its size",
}
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
                    progress: Progress | None = None, formats: tuple[str, ...] = DEFAULT_FORMATS) -> pd.DataFrame:
    """One row per chosen format, in FORMATS order (see COLUMNS); the shared model is copied, never changed."""
    check_decoder(model)
    check_new_tokens(new_tokens)
    formats = check_formats(formats)
    report = progress or quiet
    ids = prompt_ids(model, PERPLEXITY_TEXT[: _chars_that_fit(model)])
    rows = []
    for number, name in enumerate(formats):
        report(number / len(formats), f"{name}: building…")
        if (missing := unavailable(model, name)) is not None:
            rows.append((name, *[np.nan] * 6, missing))
            continue
        variant = model if name == "float32" else _quantized_copy(model, name)
        step = lambda f, m, n=number, label=name: report((n + f) / len(formats), f"{label}: {m}")  # noqa: E731
        rows.append(_measure(variant, name, ids, new_tokens, runs, evaluate, step))
        del variant  # the quantized copy is freed before the next format is built
    report(1.0, "Done.")
    return pd.DataFrame(rows, columns=COLUMNS)


def check_formats(formats: tuple[str, ...]) -> tuple[str, ...]:
    """The chosen formats in FORMATS order; ValueError for none or an unknown one."""
    unknown = [name for name in formats if name not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"Choose one or more weight formats among: {', '.join(FORMATS)}.")
    return tuple(name for name in FORMATS if name in formats)


def unavailable(model: LoadedModel, name: str) -> str | None:
    """Why this machine cannot build the format (None when it can)."""
    if name == "float32":
        return None
    if devices.model_device(model).type != "cpu":
        return "the quantized formats are measured on the CPU only"
    if name in (INT8_WEIGHT_ONLY, INT4_WEIGHT_ONLY) and importlib.util.find_spec("torchao") is None:
        return "the torchao package is not installed (pip install torchao)"
    return None


def _quantized_copy(model: LoadedModel, name: str) -> LoadedModel:
    if name == "int8 dynamic":
        return _int8_copy(model)
    with gate.hold(model):  # nobody's hook is live while the gate is held: the copy carries none
        network = copy.deepcopy(model.model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torchao.quantization import Int8WeightOnlyConfig, IntxWeightOnlyConfig, quantize_
        from torchao.quantization.granularity import PerGroup

        config = Int8WeightOnlyConfig() if name == INT8_WEIGHT_ONLY else \
            IntxWeightOnlyConfig(weight_dtype=torch.int4, granularity=PerGroup(INT4_GROUP))
        quantize_(network, config, filter_fn=_quantizable)
    return dataclasses.replace(model, model=network)


def _quantizable(module: torch.nn.Module, _name: str) -> bool:
    """Linear layers whose inputs split into whole int4 groups (all of SmolLM2's; a tiny test model's may not)."""
    return isinstance(module, torch.nn.Linear) and module.in_features % INT4_GROUP == 0


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

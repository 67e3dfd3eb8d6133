"""Benchmarks of the Adapt page: a LoRA step vs a plain forward, steered vs plain generation, the default run."""

from __future__ import annotations

import resource
import time

import torch

import core
from core import prompting
from core.adapt import data, lora, steering
from core.runtime import calls


def _default_run(model: core.LoadedModel) -> lora.LoraRun:
    task = prompting.PRESETS["Movie-review sentiment"]
    rows = [*task.examples, *prompting.load_eval_set(task)[["text", "label"]].itertuples(index=False, name=None)]
    return lora.LoraRun(model, data.split_rows(rows, 0.4, 0), task.instruction, lora.LoraSettings())


def bench_lora_step(model: core.LoadedModel, alternating) -> tuple[float, float]:
    """(CPU s of a plain forward, CPU s of one LoRA optimisation step) on the same 8-row batch."""
    run = _default_run(model)
    batch = run.batches[0]

    def forward():
        with core.runtime.gate.inference(model):
            calls.forward(model, input_ids=batch.ids, attention_mask=batch.mask, use_cache=False)

    (plain, step), _ = alternating(forward, lambda: run.step(batch), 7)
    return plain, step


def bench_steered_generation(model: core.LoadedModel, alternating) -> tuple[float, float]:
    """(CPU s of plain generation, CPU s of steered generation): 3 prompts x 24 new tokens, greedy."""
    positive, negative = steering.PRESETS["Sentiment (positive − negative)"]
    vector = steering.steering_vector(model, model.info.layers // 3, positive, negative)
    prompts = list(steering.NEUTRAL_PROMPTS[:3])
    settings = core.GenerationSettings(max_new_tokens=24)
    (plain, steered), _ = alternating(lambda: core.generate(model, prompts, settings),
                                      lambda: steering.steered_generate(model, prompts, settings, vector, 4.0), 3)
    return plain, steered


def default_fine_tune(model: core.LoadedModel) -> tuple[float, float, int]:
    """(wall s, peak RSS MB of the process so far, steps) of the page's default fine-tune on the sentiment preset."""
    torch.manual_seed(0)
    run = _default_run(model)
    started = time.perf_counter()
    run.run()
    return time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, run.progress.steps

"""What adapting bought and cost: the held-out set scored by the Prompt strategies engine, and a forgetting probe."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from core.adapt.data import Split
from core.models import LoadedModel
from core.prompting import Example, build_prompt, normalize_label, prompt_eval
from core.prompting.eval_report import Evaluation
from core.runtime import calls, gate
from core.sampling import GenerationSettings

Progress = Callable[[float, str], None]
PROBES = ("The capital of France is", "Water boils at a temperature of", "The opposite of hot is",
          "One, two, three, four,", "The first president of the United States was", "Romeo and Juliet was written by",
          "The largest planet in the solar system is", "To make a cup of tea, first")


@dataclass(frozen=True)
class Way:
    """One way of adapting, scored on the held-out set."""

    name: str
    model: LoadedModel
    k: int  # shots in the prompt
    steer: Callable | None = None  # a context manager factory that holds the gate with a steering hook


def balanced_shots(split: Split, k: int) -> tuple[Example, ...]:
    """k training rows taken in turn from each label (never a held-out row)."""
    by_label = {normalize_label(label): [r for r in split.train if normalize_label(r[1]) == normalize_label(label)]
                for label in split.labels}
    shots: list[Example] = []
    while len(shots) < k and any(by_label.values()):
        for rows in by_label.values():
            if rows and len(shots) < k:
                shots.append(rows.pop(0))
    return tuple(shots)


def score_ways(ways: Sequence[Way], instruction: str, split: Split, few_k: int, fmt: str = "plain",
               progress: Progress | None = None, should_stop=None) -> pd.DataFrame:
    """One row per way: accuracy, mean gold-label probability and prompt tokens per query (rank the labels)."""
    shots = balanced_shots(split, few_k)
    report = progress or (lambda fraction, message: None)
    rows = []
    for number, way in enumerate(ways):
        report(number / len(ways), f"Scoring {way.name} ({number + 1} of {len(ways)})")
        request = prompt_eval.EvalRequest(instruction, shots, split.heldout, GenerationSettings(), max(1, len(shots)),
                                          fmt=fmt, shot_influence=False)
        if way.steer is not None:
            with way.steer():
                evaluation = prompt_eval.evaluate(way.model, request, should_stop=should_stop)
        else:
            evaluation = prompt_eval.evaluate(way.model, request, should_stop=should_stop)
        if evaluation.partial:
            break
        rows.append(_way_row(way, evaluation, shots, instruction, split, fmt))
    report(1.0, "Scored")
    return pd.DataFrame(rows)


def _way_row(way: Way, evaluation: Evaluation, shots, instruction: str, split: Split, fmt: str) -> dict:
    predictions = evaluation.predictions
    chosen = predictions[(predictions["k"] == (way.k if way.k == 0 else len(shots))) & (predictions["shuffle"] == 0)]
    gold_p = [row[f"p({row['gold']})"] for _, row in chosen.iterrows()]
    tokens = [len(way.model.tokenizer(build_prompt(instruction, shots[:way.k], text, fmt, way.model.tokenizer))
                  ["input_ids"]) for text, _ in split.heldout]
    return {"way": way.name, "k": way.k, "accuracy": float(chosen["correct"].mean()),
            "mean_gold_probability": float(np.mean(gold_p)), "prompt_tokens": float(np.mean(tokens)),
            "scored": len(chosen)}


def forgetting(base: LoadedModel, adapted: LoadedModel, probes: Sequence[str] = PROBES) -> pd.DataFrame:
    """Per general prompt: KL(base ‖ adapted) of the next-token distribution and both top-1 tokens."""
    rows = []
    for prompt in probes:
        ids = torch.tensor([base.tokenizer(prompt)["input_ids"]])
        logs = []
        for model in (base, adapted):
            with gate.inference(model):
                logits = calls.forward(model, input_ids=ids, logits_to_keep=1).logits[0, -1]
                logs.append(torch.log_softmax(logits.float().cpu(), -1))
        kl = float((logs[0].exp() * (logs[0] - logs[1])).sum())
        top = [int(log.argmax()) for log in logs]
        rows.append({"prompt": prompt, "kl": max(kl, 0.0), "top1_before": base.tokenizer.decode([top[0]]),
                     "top1_after": base.tokenizer.decode([top[1]]), "agree": top[0] == top[1]})
    return pd.DataFrame(rows)


def delta_norms(peft_model) -> pd.DataFrame:
    """‖ΔW‖ (Frobenius) of every adapted matrix, and relative to ‖W‖: layer, matrix, norm, relative."""
    from peft.tuners.lora import LoraLayer

    rows = []
    for name, module in peft_model.named_modules():
        if isinstance(module, LoraLayer) and "default" in module.lora_A:
            with torch.no_grad():
                delta = module.get_delta_weight("default")
            parts = name.split(".")
            layer = next((int(p) for p in parts if p.isdigit()), -1)
            matrix = ".".join(parts[parts.index(str(layer)) + 1:]) if layer >= 0 else name
            rows.append({"layer": layer, "matrix": matrix, "norm": float(delta.norm()),
                         "relative": float(delta.norm() / module.get_base_layer().weight.norm())})
    return pd.DataFrame(rows)


def label_lens(model: LoadedModel, prompt: str, label: str) -> np.ndarray:
    """(layer + 1,) P(label's first token) at the prompt's last position, read through the final norm and
    unembedding from the residual entering each layer, then the model's own output (the logit lens)."""
    from core.prompting.label_scoring import encode_pair
    from core.runtime import hooks

    ids = model.tokenizer(prompt)["input_ids"]
    token = encode_pair(model.tokenizer, prompt, " " + label)[1][0]
    residual = torch.from_numpy(hooks.residual_stream(model, ids)[:, -1])  # (layer, d_model)
    parts = hooks.arch(model)
    with gate.inference(model):
        read = calls.unembed(model, calls.run_module(model, parts.final_norm, residual)).float().cpu()  # (layer, vocab)
        final = torch.from_numpy(calls.logits(model, [ids])[0, -1])
    return np.append(torch.softmax(read, -1)[:, token].numpy(), float(torch.softmax(final, -1)[token]))


def lens_before_after(base: LoadedModel, adapted: LoadedModel, prompt: str, label: str) -> pd.DataFrame:
    """The label's logit lens on the base and the adapted model: layer, before, after (last row: the output)."""
    before, after = label_lens(base, prompt, label), label_lens(adapted, prompt, label)
    layers = [str(i) for i in range(len(before) - 1)] + ["output"]
    return pd.DataFrame({"layer": layers, "before": before, "after": after})


@dataclass(frozen=True)
class AttentionChange:
    """Every head's attention on one prompt, on the base and on the adapted model."""

    labels: tuple[str, ...]  # token labels with visible whitespace, one per position
    before: np.ndarray  # (layer, head, query, key)
    after: np.ndarray  # (layer, head, query, key)


def attention_change(base: LoadedModel, adapted: LoadedModel, prompt: str) -> AttentionChange:
    """The attention of every head on prompt before and after adapting (one analysis each)."""
    from core.analysis import analyze

    before, after = analyze(base, prompt), analyze(adapted, prompt)
    return AttentionChange(before.tokens.labels, before.attention, after.attention)

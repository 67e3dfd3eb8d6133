"""Dynamic int8 quantization of a copy of the loaded model, measured against the float model."""

from __future__ import annotations

import dataclasses
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from core.models import LoadedModel
from core.runtime import calls, gate
from core.runtime.arrays import frozen

Progress = Callable[[float, str], None]
SAMPLE_TEXT = (
    "The capital of France is Paris. The capital of Germany is Berlin. Attention lets every token "
    "look at every other token, so a transformer reads a whole sentence in one step. Once upon a time "
    "there was a little girl who lived in a village near the forest."
)
TIMING_RUNS = 5
MAX_CHARS = 20_000
MAX_TOKENS = 256  # positions compared (the fixed sample text has about 60)


@dataclass(frozen=True)
class QuantizationReport:
    """Float vs dynamic-int8 copy of one model: size, speed and agreement, measured in one run."""

    model_name: str
    quantized_layers: int  # Linear layers replaced by int8 versions
    float_bytes: int  # serialized state_dict of the float model
    int8_bytes: int  # serialized state_dict of the quantized copy
    float_seconds: float  # median forward time on the sample text
    int8_seconds: float
    tokens: int  # positions compared
    agreement: float | None  # share of positions whose next-token argmax is the same; None for encoders
    same_prediction: np.ndarray  # (pos,) bool, True where the argmax agrees (or outputs agree for encoders)
    max_abs_diff: float  # largest difference between the two models' outputs (logits or hidden states)
    mean_cosine: float  # mean cosine similarity of the two models' output vectors per position

    @property
    def size_ratio(self) -> float:
        return self.float_bytes / self.int8_bytes

    @property
    def speedup(self) -> float:
        return self.float_seconds / self.int8_seconds


def quantize_dynamic_int8(
    model: LoadedModel, text: str = SAMPLE_TEXT, progress: Progress | None = None
) -> QuantizationReport:
    """Quantize a copy of every nn.Linear to int8 (torch dynamic quantization, CPU); the shared model is untouched."""
    report = progress or (lambda fraction, message: None)
    if len(text) > MAX_CHARS:
        raise ValueError(f"Sample text has {len(text):,} characters; the limit is {MAX_CHARS:,}.")
    ids = model.tokenizer(text, return_tensors="pt", verbose=False)["input_ids"]
    ids = ids[:, : min(model.info.context_window, MAX_TOKENS)]  # five timed runs each way: keep them short
    if ids.shape[1] < 2:
        raise ValueError(f"Sample text has {ids.shape[1]} token(s); comparing predictions needs at least 2.")
    report(0.05, "Copying the model and quantizing its Linear layers to int8…")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch marks this API deprecated in favour of torchao (not installed)
        from torch.ao.quantization import quantize_dynamic

        # inplace=False works on a deep copy: the shared model is read by every session. The copy is
        # taken inside the gate, so no other session's hook or attention switch is live on it.
        with gate.hold(model):
            quantized = quantize_dynamic(model.model, {torch.nn.Linear}, dtype=torch.qint8, inplace=False)
    layers = sum(type(m).__name__ == "Linear" and "quantized" in type(m).__module__ for m in quantized.modules())
    report(0.3, "Measuring the serialized size of both models…")
    float_bytes, int8_bytes = serialized_bytes(model.model), serialized_bytes(quantized)
    report(0.5, "Timing a forward pass of each model on the same text…")
    float_out, float_seconds = _timed_forward(model, ids)
    int8_out, int8_seconds = _timed_forward(dataclasses.replace(model, model=quantized), ids)  # a private copy
    report(0.9, "Comparing predictions…")
    agreement, same = _agreement(float_out, int8_out, model.info.is_decoder)
    report(1.0, "Done.")
    return QuantizationReport(
        model.name, layers, float_bytes, int8_bytes, float_seconds, int8_seconds, int(ids.shape[1]),
        agreement, frozen(same), float((float_out - int8_out).abs().max()),
        float(torch.nn.functional.cosine_similarity(float_out, int8_out, dim=-1).mean()),
    )


def serialized_bytes(net: torch.nn.Module) -> int:
    """Bytes of torch.save(state_dict) on disk (a tied matrix is stored once)."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "weights.pt")
        torch.save(net.state_dict(), path)
        return os.path.getsize(path)


def _timed_forward(model: LoadedModel, ids: torch.Tensor) -> tuple[torch.Tensor, float]:
    """The output tensor (logits or last hidden state) and the median of a few timed forward passes."""
    times = []
    with gate.inference(model):  # timed alone, like every other forward pass
        output = _output(calls.forward(model, ids))  # warm-up run, also the result compared below
        for _ in range(TIMING_RUNS):
            started = time.perf_counter()
            calls.forward(model, ids)
            times.append(time.perf_counter() - started)
    return output[0].float().cpu(), statistics.median(times)


def _output(result) -> torch.Tensor:
    logits = getattr(result, "logits", None)
    return logits if logits is not None else result.last_hidden_state


def _agreement(float_out: torch.Tensor, int8_out: torch.Tensor, decoder: bool) -> tuple[float | None, np.ndarray]:
    """Share of positions where both models pick the same next token (decoders only)."""
    if not decoder:  # an encoder predicts no token: compare direction of its output vectors instead
        cosine = torch.nn.functional.cosine_similarity(float_out, int8_out, dim=-1)
        return None, (cosine > 0.99).numpy()
    same = (float_out.argmax(dim=-1) == int8_out.argmax(dim=-1)).numpy()
    return float(same.mean()), same

"""Memory and fine-tuning cost as plain formulas: weights, KV cache, training state, LoRA parameters."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Bytes per parameter for each storage format (int4 packs two weights into one byte).
BYTES_PER_PARAM: dict[str, float] = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "int8": 1.0, "int4": 0.5}
ADAM_STATE_BYTES = 8.0  # Adam keeps two fp32 moments (m and v) per trainable parameter
MAX_PARAMS = 100e12  # far beyond any real model; catches typos such as "7000T"
MAX_RANK = 4096
_SUFFIX = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([KMBGT]?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class TrainingMemory:
    """Memory to train every parameter with Adam, by part, in bytes (activations not included)."""

    weights: float
    gradients: float
    optimizer: float

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer


def bytes_per_param(dtype: str) -> float:
    """Bytes one parameter takes in a storage format; ValueError names the formats."""
    if dtype not in BYTES_PER_PARAM:
        raise ValueError(f"Unknown format '{dtype}'. Choose one of: {', '.join(BYTES_PER_PARAM)}.")
    return BYTES_PER_PARAM[dtype]


def parse_size(text: str) -> int:
    """Parse a parameter count like "7B", "135M", "1.5b", "500K" or "134,515,008" into an integer."""
    match = _SIZE.match(str(text).replace(",", "").replace("_", ""))
    if not match:
        raise ValueError(
            f"Cannot read '{text}' as a model size. Write a number with an optional K, M, B or T, e.g. 7B or 135M."
        )
    count = round(float(match.group(1)) * _SUFFIX[match.group(2).upper()])
    if count < 1:
        raise ValueError("A model size must be at least 1 parameter.")
    if count > MAX_PARAMS:
        raise ValueError(f"'{text}' is more than the {MAX_PARAMS / 1e12:,.0f}T parameters this calculator accepts.")
    return count


def weights_bytes(params: int, dtype: str) -> float:
    """Bytes to hold the weights: params × bytes per parameter."""
    _check_positive(params=params)
    return params * bytes_per_param(dtype)


def kv_cache_bytes(layers: int, kv_heads: int, head_dim: int, context: int, batch: int, dtype: str) -> float:
    """KV cache bytes: 2 (key and value) × layers × kv_heads × head_dim × context × batch × bytes."""
    _check_positive(layers=layers, kv_heads=kv_heads, head_dim=head_dim, context=context, batch=batch)
    return 2 * layers * kv_heads * head_dim * context * batch * bytes_per_param(dtype)


def training_memory(params: int, dtype: str = "fp32", trainable: int | None = None) -> TrainingMemory:
    """Weights for all params, plus gradients (same format) and Adam's 2 fp32 states for the trainable ones."""
    _check_positive(params=params)
    trainable = params if trainable is None else trainable
    if not 0 <= trainable <= params:
        raise ValueError(f"Trainable parameters ({trainable:,}) must be between 0 and the total ({params:,}).")
    size = bytes_per_param(dtype)
    return TrainingMemory(params * size, trainable * size, trainable * ADAM_STATE_BYTES)


def lora_parameters(shapes: Iterable[tuple[int, int, int]], rank: int) -> int:
    """LoRA trainable parameters: Σ count × rank × (d_in + d_out) over adapted (d_in, d_out, count) matrices."""
    if not 1 <= rank <= MAX_RANK:
        raise ValueError(f"LoRA rank must be between 1 and {MAX_RANK:,}; got {rank}.")
    total = 0
    for d_in, d_out, count in shapes:
        _check_positive(d_in=d_in, d_out=d_out, count=count)
        total += count * rank * (d_in + d_out)
    return total


def human_bytes(size: float) -> str:
    """Bytes in decimal units (1 GB = 10⁹ bytes), as model cards and GPU specs use them."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:,.2f} {unit}"
    return f"{size:,.0f} B"


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{name.replace('_', ' ')} must be at least 1; got {value}.")

"""Where the models run: LLM_LENS_DEVICE (cpu by default, cuda when set); results always come back to CPU."""

from __future__ import annotations

import os
import re

import torch

_VALID = re.compile(r"^(cpu|cuda(:\d+)?|mps)$")


def device() -> torch.device:
    """The device named by LLM_LENS_DEVICE (default cpu); ValueError naming the valid values otherwise."""
    wanted = (os.environ.get("LLM_LENS_DEVICE") or "cpu").strip().lower()
    if not _VALID.match(wanted):
        raise ValueError(f"LLM_LENS_DEVICE={wanted!r} is not a device; use cpu, cuda, cuda:N or mps.")
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"LLM_LENS_DEVICE={wanted!r}, but this torch build sees no CUDA GPU; unset it to use the CPU.")
    if wanted == "mps" and not torch.backends.mps.is_available():
        raise ValueError("LLM_LENS_DEVICE='mps', but this machine has no Apple GPU; unset it to use the CPU.")
    return torch.device(wanted)


def model_device(model) -> torch.device:
    """The device a loaded model's weights live on (a LoadedModel or a torch module)."""
    network = getattr(model, "model", model)
    return next(network.parameters()).device


def to_model(model, tensor: torch.Tensor) -> torch.Tensor:
    """An input tensor moved to the model's device (a no-op on CPU)."""
    target = model_device(model)
    return tensor if tensor.device == target else tensor.to(target)

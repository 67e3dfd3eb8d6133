"""The one way into a shared model's network: every forward, generation step and backward pass runs here.

Each call refuses to run unless this thread holds the model's inference gate (core.runtime.gate:
lanes started by the holder count as holding it), moves its inputs to the model's device, and the
helpers that return numbers hand them back as CPU numpy. Hooks are added only through
core.runtime.hooks.hooks(...), at named sites, and removed in `finally`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from core.runtime import devices, gate


class GateNotHeld(RuntimeError):
    """A model computation was attempted without holding the model's inference gate."""


def require_gate(model) -> None:
    """Raise GateNotHeld unless this thread holds the model's gate."""
    if not gate.GATE.is_held(gate.gate_key(model)):
        raise GateNotHeld("A computation on the shared model ran without its inference gate: "
                          "run it inside core.runtime.gate.hold(model) or inference(model).")


def network(model) -> torch.nn.Module:
    """The torch module of a LoadedModel (or the module itself: a causal LM's own `.model` is its body)."""
    return model if isinstance(model, torch.nn.Module) else model.model


def on_device(model, value):
    """value with every tensor in it (a tensor; a tuple, list, dict or dataclass of them) on the model's device."""
    if isinstance(value, torch.Tensor):
        return devices.to_model(model, value)
    if isinstance(value, (tuple, list)):
        return type(value)(on_device(model, item) for item in value)
    if isinstance(value, dict):
        return {key: on_device(model, item) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # e.g. a packed-attention layout
        fields = {field.name: on_device(model, getattr(value, field.name)) for field in dataclasses.fields(value)}
        return dataclasses.replace(value, **fields)
    return value


def ids_tensor(model, ids) -> torch.Tensor:
    """(batch, pos) int64 ids on the model's device, from a sequence, a list of rows, numpy or a tensor."""
    tensor = ids.long() if isinstance(ids, torch.Tensor) else torch.as_tensor(np.asarray(ids, dtype=np.int64))
    return devices.to_model(model, tensor if tensor.dim() == 2 else tensor[None])


def forward(model, *args, **inputs):
    """The network's own output for these inputs (the caller holds the gate); tensors moved to its device."""
    require_gate(model)
    return network(model)(*on_device(model, args), **on_device(model, inputs))


def run_module(model, module: torch.nn.Module, *args, **inputs):
    """One submodule of the model (a block, a norm, the embedding) on these inputs, under the same rules."""
    require_gate(model)
    return module(*on_device(model, args), **on_device(model, inputs))


def embed(model, ids) -> torch.Tensor:
    """(batch, pos, d_model) input token embeddings of ids, on the model's device."""
    return run_module(model, network(model).get_input_embeddings(), ids_tensor(model, ids))


def unembed(model, hidden: torch.Tensor) -> torch.Tensor:
    """(..., vocab) logits of final-normed hidden states, on the model's device."""
    return run_module(model, network(model).get_output_embeddings(), hidden)


def logits(model, ids, keep: int = 1) -> np.ndarray:
    """(batch, keep, vocab) float32 CPU logits of the last `keep` positions of ids (batch, pos)."""
    output = forward(model, input_ids=ids_tensor(model, ids), logits_to_keep=keep, use_cache=False)
    return to_numpy(output.logits)


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A float32 CPU numpy copy of a result tensor (detached)."""
    return tensor.detach().float().cpu().numpy()


"""LoRA adapters a served model lists (vLLM's --lora-modules): which exist, how many rank requests at once, and
whether an adapter fits the base model it is served on."""

from __future__ import annotations

import json
import re
from pathlib import Path

import openai
from safetensors import safe_open

from core.served import remote
from core.served.remote import Endpoint

# Projections whose LoRA A matrix reads the residual stream: its input size is the base model's hidden size.
READS_HIDDEN = ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj")


def listed_models(endpoint: Endpoint) -> dict[str, dict]:
    """Every model the server lists at /v1/models, id → its fields (vLLM adds `root`, `parent`, `max_model_len`)."""
    try:
        page = remote.client(endpoint).models.list()
    except openai.OpenAIError as error:
        raise remote.explain(error, endpoint, "the model list") from None
    return {entry.id: entry.model_dump() for entry in page.data}


def served_adapters(endpoint: Endpoint) -> dict[str, str]:
    """LoRA adapters the server lists, id → its base model's id (vLLM names the base as the adapter's `parent`)."""
    return {name: str(fields["parent"]) for name, fields in listed_models(endpoint).items() if fields.get("parent")}


def rank_concurrency(endpoint: Endpoint) -> int:
    """Rank requests to send at once: the endpoint's setting, or 1 on a server that serves LoRA adapters.

    vLLM (0.32, CPU) started with --enable-lora maps prompt log-probabilities to adapters per request, not
    per prompt token: two echo requests in one batch stop its engine (an einsum shape error), and the
    server with it. One request at a time is one request per batch.
    """
    return 1 if served_adapters(endpoint) else endpoint.concurrency


def preflight(endpoint: Endpoint, model: str, mode: str) -> int:
    """Requests to send at once for an evaluation in this mode; RemoteError when the adapter does not fit its base."""
    problem = adapter_mismatch(endpoint, model)
    if problem:
        raise remote.RemoteError(problem)
    return rank_concurrency(endpoint) if mode == "rank" else endpoint.concurrency


def adapter_mismatch(endpoint: Endpoint, model: str) -> str | None:
    """Why `model`, a served adapter, does not fit its base model, or None (fits, not an adapter, or unreadable).

    A server checks only the adapter's rank: vLLM copies an adapter made for a smaller model into the
    base's LoRA slots and answers nonsense. When the adapter and base folders the server names are
    readable here (a server on this machine), their shapes are compared.
    """
    listed = listed_models(endpoint)
    entry = listed.get(model) or {}
    base = listed.get(str(entry.get("parent")), {})
    adapter_file = Path(str(entry.get("root", ""))) / "adapter_model.safetensors"
    config_file = Path(str(base.get("root", ""))) / "config.json"
    if not entry.get("parent") or not adapter_file.is_file() or not config_file.is_file():
        return None
    config = json.loads(config_file.read_text())
    hidden, layers = int(config.get("hidden_size", 0)), int(config.get("num_hidden_layers", 0))
    found_hidden, found_layers = _adapter_shape(adapter_file)
    if (found_hidden and found_hidden != hidden) or found_layers > layers:
        return (f"'{model}' is a LoRA adapter for another base model (hidden size {found_hidden}, "
                f"{found_layers} layers) than '{entry['parent']}' (hidden size {hidden}, {layers} layers), which "
                "the server applies it to: its answers would mean nothing. Serve the adapter on the model it was "
                "trained from.")
    return None


def _adapter_shape(path: Path) -> tuple[int, int]:
    """(input size of the LoRA A matrices that read the hidden state, number of layers) from the tensor headers."""
    hidden, layers = 0, 0
    with safe_open(str(path), framework="numpy") as weights:
        for name in weights.keys():  # noqa: SIM118 (safe_open is not a mapping)
            layer = re.search(r"layers\.(\d+)\.", name)
            layers = max(layers, int(layer.group(1)) + 1) if layer else layers
            if "lora_A" in name and any(f"{proj}." in name for proj in READS_HIDDEN):
                hidden = weights.get_slice(name).get_shape()[1]
    return hidden, layers

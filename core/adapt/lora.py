"""LoRA fine-tuning (peft) on a structural copy of the shared model that shares its weight tensors.

The shared model never changes: `structural_copy` deep-copies the module tree with every parameter
and buffer memoised to itself, so the copy has new module objects around the very same tensors
(zero extra weight memory), and peft injects its LoRA layers into the copy only. The base tensors
keep requires_grad False; the optimiser sees the adapter's matrices alone. Every training step
takes the shared model's gate, so other sessions wait at most one step.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from core.adapt.data import Batch, Split, encode_rows, make_batch
from core.models import LoadedModel
from core.runtime import calls, gate

MAX_RANK = 64
MAX_STEPS = 400  # a few epochs of the largest set stay minutes of CPU
MAX_BATCH = 32
MAX_LEARNING_RATE = 10.0  # high enough to show what divergence looks like
OnStep = Callable[["Progress"], None]
ShouldStop = Callable[[], bool]


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite: the run is stopped and its adapter discarded."""


@dataclass(frozen=True)
class LoraSettings:
    """One fine-tuning run's choices, as plain hashable values."""

    rank: int = 8
    alpha: int = 16
    targets: tuple[str, ...] = ("self_attn.q_proj", "self_attn.v_proj")  # block matrices, as in core.anatomy
    learning_rate: float = 2e-3
    epochs: int = 4
    batch_size: int = 8
    seed: int = 0

    def check(self) -> None:
        """ValueError naming the limit of the first setting out of range."""
        if not 1 <= self.rank <= MAX_RANK:
            raise ValueError(f"LoRA rank must be between 1 and {MAX_RANK}; got {self.rank}.")
        if not self.targets:
            raise ValueError("Choose at least one matrix to adapt.")
        if not 0 < self.learning_rate <= MAX_LEARNING_RATE:
            raise ValueError(f"The learning rate must be above 0 and at most {MAX_LEARNING_RATE:g}.")
        if not 1 <= self.batch_size <= MAX_BATCH or self.epochs < 1:
            raise ValueError(f"Batch size must be between 1 and {MAX_BATCH}, epochs at least 1.")


@dataclass
class Progress:
    """What a run has done so far (updated in place by the training thread, read by pages)."""

    step: int = 0
    steps: int = 0
    epoch: int = 0
    train_loss: list[float] = field(default_factory=list)  # (step,)
    heldout_loss: list[tuple[int, float]] = field(default_factory=list)  # (epoch, loss) after each epoch
    seconds: float = 0.0
    stopped: bool = False


def structural_copy(model: LoadedModel) -> torch.nn.Module:
    """New module objects around the shared model's own parameter and buffer tensors (no weight copied)."""
    net = model.model
    memo = {id(t): t for t in [*net.parameters(), *net.buffers()]}
    with gate.hold(model):  # a forward may switch the config's attention kernel for its duration
        twin = copy.deepcopy(net, memo)
    twin.__dict__["lens_gate_key"] = gate.gate_key(model)  # the copy queues with the shared model
    return twin


def attach_lora(model: LoadedModel, settings: LoraSettings):
    """A peft model wrapping a structural copy of model, its LoRA matrices initialised from the seed."""
    from peft import LoraConfig, get_peft_model

    settings.check()
    if not model.info.is_decoder:
        raise ValueError(f"{model.info.name} is an encoder: fine-tuning here trains a decoder to write the label.")
    config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, target_modules=list(settings.targets),
                        lora_dropout=0.0, bias="none", task_type="CAUSAL_LM")
    with torch.random.fork_rng(devices=[]):  # peft draws A from torch's global generator: seed it, then restore
        torch.manual_seed(settings.seed)
        try:
            peft_model = get_peft_model(structural_copy(model), config)
        except ValueError as error:
            raise ValueError(f"These matrices cannot be adapted in {model.info.name}: {error}") from None
    peft_model.peft_config["default"].base_model_name_or_path = model.info.name  # never a server folder
    return peft_model


def trainable_parameters(peft_model) -> int:
    """The number of parameters the optimiser updates (the LoRA A and B matrices)."""
    return sum(p.numel() for p in peft_model.parameters() if p.requires_grad)


def adapted(model: LoadedModel, peft_model) -> LoadedModel:
    """The adapted network as a LoadedModel, so every core function (scoring, lens) runs on it."""
    return LoadedModel(f"{model.name} + LoRA", peft_model.get_base_model(), model.tokenizer, model.info)


class LoraRun:
    """One fine-tuning run: the adapter, its optimiser, the planned batches and the progress so far."""

    def __init__(self, model: LoadedModel, split: Split, instruction: str, settings: LoraSettings,
                 fmt: str = "plain"):
        self.model, self.settings, self.split = model, settings, split
        pad = model.tokenizer.pad_token_id or 0
        self.train_rows = encode_rows(model.tokenizer, instruction, split.train, fmt)
        self.heldout = make_batch(encode_rows(model.tokenizer, instruction, split.heldout, fmt), pad)
        self.batches = _plan(self.train_rows, settings, pad)
        if len(self.batches) > MAX_STEPS:
            raise ValueError(f"This run needs {len(self.batches):,} steps; the limit is {MAX_STEPS:,}. "
                             "Use fewer epochs, fewer rows or a larger batch.")
        self.peft_model = attach_lora(model, settings)
        self.net = self.peft_model.get_base_model()
        trainable = [p for p in self.peft_model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=0.0)
        self.progress = Progress(steps=len(self.batches))

    def run(self, should_stop: ShouldStop | None = None, on_step: OnStep | None = None) -> Progress:
        """Train every planned step (gate held per step); stop early when asked. TrainingDiverged on NaN."""
        started = time.perf_counter()
        per_epoch = len(self.batches) // self.settings.epochs
        for step, batch in enumerate(self.batches[self.progress.step:], start=self.progress.step + 1):
            if should_stop is not None and should_stop():
                self.progress.stopped = True
                break
            loss = self.step(batch)
            if self._diverged(loss):
                self.free()  # what it learned so far is no longer trustworthy: discard it
                raise TrainingDiverged(
                    f"The training loss became {loss:.4g} at step {step} of {self.progress.steps}, "
                    f"{self._diverged_reason(loss)} (learning rate {self.settings.learning_rate:g} is too high): "
                    "training stopped and the adapter was discarded. Lower the learning rate (1e-3 to 5e-3 "
                    "works for LoRA here).")
            self.progress.train_loss.append(loss)
            self.progress.step = step
            if step % per_epoch == 0:
                self.progress.epoch = step // per_epoch
                self.progress.heldout_loss.append((self.progress.epoch, self.heldout_loss()))
            self.progress.seconds += time.perf_counter() - started
            started = time.perf_counter()
            if on_step is not None:
                on_step(self.progress)
        return self.progress

    def _diverged(self, loss: float) -> bool:
        """NaN or infinite, or worse than both a uniform guess over the vocabulary and twice the first step's loss.

        With Adam a huge learning rate need not overflow: on SmolLM2, LoRA at learning rate 10 jumps from
        6.0 to 27 nats at step 3 (a uniform guess costs ln 49,152 = 10.8) and wanders from there.
        """
        if not math.isfinite(loss):
            return True
        first = self.progress.train_loss[0] if self.progress.train_loss else loss
        return loss > max(2 * first, math.log(self.model.info.vocab_size))

    def _diverged_reason(self, loss: float) -> str:
        if not math.isfinite(loss):
            return "not a number"
        return f"worse than a uniform guess over the vocabulary ({math.log(self.model.info.vocab_size):.1f})"

    def step(self, batch: Batch) -> float:
        """One optimisation step on one batch, inside the shared model's gate; the batch's mean label loss."""
        with gate.hold(self.model), torch.enable_grad():
            loss = label_loss(self.net, batch)
            if not torch.isfinite(loss):
                self.optimizer.zero_grad(set_to_none=True)
                return float(loss.detach())
            loss.backward()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def heldout_loss(self) -> float:
        """Mean loss on the held-out rows' label tokens (no gradient)."""
        with gate.inference(self.model):
            return float(label_loss(self.net, self.heldout))

    def held_bytes(self) -> int:
        """Adapter plus AdamW's two moments (fp32): what this run keeps beside the shared model."""
        return trainable_parameters(self.peft_model) * 4 * 3

    def free(self) -> None:
        """Drop the adapter and the optimiser state (the shared model is untouched either way)."""
        self.optimizer.state.clear()
        self.peft_model = self.net = None


def label_loss(net: torch.nn.Module, batch: Batch) -> torch.Tensor:
    """Mean cross-entropy over the label tokens only (targets IGNORE elsewhere)."""
    logits = calls.forward(net, input_ids=batch.ids, attention_mask=batch.mask, use_cache=False).logits
    return F.cross_entropy(logits.float().flatten(0, 1), batch.targets.flatten(), ignore_index=-100)


def _plan(rows: Sequence[tuple[list, list]], settings: LoraSettings, pad: int) -> list[Batch]:
    """Every step's batch: each epoch a seeded shuffle of the rows, cut into batches."""
    rng = np.random.default_rng(settings.seed)
    batches = []
    for _ in range(settings.epochs):
        order = rng.permutation(len(rows))
        batches += [make_batch([rows[i] for i in order[s:s + settings.batch_size]], pad)
                    for s in range(0, len(rows), settings.batch_size)]
    return batches

"""Batched text generation with a KV cache, streamed step by step, greedy or seeded sampling."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.analysis import check_length
from core.models import LoadedModel
from core.runtime import calls, gate
from core.runtime.padding import pad_batch
from core.sampling import GenerationSettings, choose_next
from core.tokens import check_text, token_label

# One batched run's cost: the prefill reads every row's padded prompt at once (eager attention
# keeps rows × heads × width² weights per layer), then each step decodes every row.
MAX_BATCH_PROMPT_TOKENS = 16_384  # rows × padded prompt tokens: two full context windows
MAX_BATCH_NEW_TOKENS = 4_096  # rows × max_new_tokens: 8 samples × 256 tokens is 2,048


@dataclass(frozen=True)
class Completion:
    """What the model added to one prompt."""

    prompt: str
    text: str  # new text only, special tokens removed, cut before any stop string
    token_ids: np.ndarray  # (new,) int64
    token_texts: tuple[str, ...]  # each new token decoded on its own
    token_labels: tuple[str, ...]  # each new token as every page labels it (core.tokens.token_label)
    logprobs: np.ndarray  # (new,) log-probability of each chosen token under the model (T=1)
    finish_reason: str  # "eos", "stop", "length" or "context"
    seconds: float


@dataclass(frozen=True)
class GenerationStep:
    """Progress after one decoding step of a batch; the last step carries the completions."""

    texts: tuple[str, ...]  # new text so far, one per prompt
    finished: tuple[bool, ...]
    completions: tuple[Completion, ...] | None = None


def generate(
    model: LoadedModel, prompts: Sequence[str], settings: GenerationSettings | None = None
) -> list[Completion]:
    """One completion per prompt, all prompts decoded together as one batch."""
    for step in stream_generate(model, prompts, settings):
        if step.completions is not None:
            return list(step.completions)
    raise RuntimeError("generation ended without completions")  # unreachable: the last step has them


def stream_generate(
    model: LoadedModel, prompts: Sequence[str], settings: GenerationSettings | None = None
) -> GenerationStream:
    """The growing completions of every prompt after each new token (one batched call), as an iterator."""
    return GenerationStream(model, list(prompts), settings or GenerationSettings())


class GenerationStream:
    """Iterator over one run's GenerationSteps that can say how many bytes it holds.

    The run starts (and validates its input) on the first next(), like a generator. Between steps
    it holds the KV cache (layer × 2 × rows × kv heads × pos × head dim floats) and the tokens; it
    keeps no logits (the chosen tokens' log-probabilities are recorded as it goes), and once
    finished it holds nothing but the steps it handed out.
    """

    def __init__(self, model: LoadedModel, prompts: list[str], settings: GenerationSettings):
        self._args = (model, prompts, settings)
        self._run: _Run | None = None
        self._steps: Iterator[GenerationStep] | None = None

    def __iter__(self) -> GenerationStream:
        return self

    def __next__(self) -> GenerationStep:
        if self._steps is None:
            self._run = _Run(*self._args)
            self._steps = self._run.steps()
        return next(self._steps)

    def held_bytes(self) -> int:
        """Bytes of the tensors this run keeps between steps (0 before it starts)."""
        run = self._run
        return 0 if run is None else run.held_bytes()

    def close(self) -> None:
        """End the run early and let go of everything it held (like a generator's close)."""
        if self._steps is not None:
            self._steps.close()
        self._run, self._steps = None, iter(())


def check_batch(rows: int, width: int, max_new_tokens: int) -> None:
    """ValueError naming the limit when one batched run would cost more than a shared server allows."""
    if rows * width > MAX_BATCH_PROMPT_TOKENS:
        raise ValueError(
            f"{rows} prompts × {width:,} tokens = {rows * width:,} prompt tokens in one run; the limit is "
            f"{MAX_BATCH_PROMPT_TOKENS:,} (time and memory of the first step grow with it). "
            "Use fewer or shorter prompts."
        )
    if rows * max_new_tokens > MAX_BATCH_NEW_TOKENS:
        raise ValueError(
            f"{rows} completions × {max_new_tokens:,} new tokens = {rows * max_new_tokens:,} tokens to decode; the "
            f"limit is {MAX_BATCH_NEW_TOKENS:,} (CPU decoding runs at about 13 steps a second)."
        )


class _Run:
    """State of one batched decoding run; lives only for the call, never on the shared model."""

    def __init__(self, model: LoadedModel, prompts: list[str], settings: GenerationSettings):
        if not model.info.is_decoder:
            raise ValueError(f"{model.name} is an encoder: it reads text but does not generate it.")
        if not prompts:
            raise ValueError("No prompts to complete.")
        for prompt in prompts:
            check_text(prompt)
        self.model, self.prompts = model, prompts
        self.settings = settings.normalized(model.info.vocab_size)
        tokenizer = model.tokenizer
        self.batch = pad_batch(tokenizer, prompts, side="left")  # never padding=: the tokenizer is shared
        check_batch(*self.batch["input_ids"].shape, self.settings.max_new_tokens)
        lengths = self.batch["attention_mask"].sum(dim=1)
        check_length(model, int(lengths.max()) + 1, None, what="Prompt plus one new token")
        room = model.info.context_window - int(self.batch["input_ids"].shape[1])
        self.budget = min(self.settings.max_new_tokens, room)
        self.eos = eos_ids(model)
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.generators = [torch.Generator().manual_seed(self.settings.seed + row) for row in range(len(prompts))]
        self.new_ids: list[list[int]] = [[] for _ in prompts]
        self.logprobs: list[list[float]] = [[] for _ in prompts]
        self.reasons: list[str | None] = [None] * len(prompts)
        self.texts = [""] * len(prompts)
        self.cache = None  # the KV cache between steps (a transformers Cache)
        self.logits: torch.Tensor | None = None  # (rows, vocab) last position, until the next token is chosen

    def steps(self) -> Iterator[GenerationStep]:
        started = time.perf_counter()
        mask = self.batch["attention_mask"]
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        self._forward(self.batch["input_ids"], mask, positions)
        for step in range(self.budget):
            chosen = self._advance(self.logits)
            self.logits = None  # while paused, keep no logits: nothing shows them after the choice
            yield GenerationStep(tuple(self.texts), tuple(r is not None for r in self.reasons))
            if all(r is not None for r in self.reasons) or step == self.budget - 1:
                break
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            positions = positions[:, -1:] + 1
            self._forward(chosen[:, None], mask, positions)
        self.cache = None  # finished: the KV cache is never read again
        seconds = time.perf_counter() - started
        yield GenerationStep(tuple(self.texts), (True,) * len(self.prompts), self._completions(seconds))

    def held_bytes(self) -> int:
        """KV cache, last logits (only while a step is being chosen) and token ids, in bytes."""
        tensors = [*self.batch.values(), self.logits]
        for layer in getattr(self.cache, "layers", ()):
            tensors += [getattr(layer, "keys", None), getattr(layer, "values", None)]
        held = sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))
        return held + 8 * sum(len(ids) for ids in self.new_ids)

    def _forward(self, input_ids, mask, positions) -> None:
        # inference_mode per call, not around the loop: a context held open across `yield`
        # would leak into the caller's code while the generator is paused.
        # logits_to_keep=1: only the last position's logits, so a prefill of 8 samples × 512 tokens
        # holds 8 × vocab floats instead of 8 × 512 × vocab (0.8 GB for SmolLM2) while the stream pauses.
        with gate.inference(self.model):
            output = calls.forward(self.model, input_ids=input_ids, attention_mask=mask, position_ids=positions,
                                   cache=self.cache, use_cache=True, logits_to_keep=1)
        self.cache, self.logits = output.cache, output.logits[:, -1, :]

    def _advance(self, logits: torch.Tensor) -> torch.Tensor:
        """Pick the next token of every row and record it; finished rows are fed padding."""
        logits = logits.float().cpu()  # sampling (seeded CPU generators) and bookkeeping run on the CPU
        chosen = choose_next(logits, self.settings, self.generators)
        logprobs = torch.log_softmax(logits, dim=-1).gather(1, chosen[:, None])[:, 0]
        for row, token in enumerate(chosen.tolist()):
            if self.reasons[row] is not None:
                chosen[row] = self.pad
                continue
            self.new_ids[row].append(token)
            self.logprobs[row].append(float(logprobs[row]))
            self._update_text(row, token)
        return chosen

    def _update_text(self, row: int, token: int) -> None:
        tokenizer = self.model.tokenizer
        text = tokenizer.decode(self.new_ids[row], skip_special_tokens=True)
        stops = [text.find(s) for s in self.settings.stop if s and s in text]
        if token in self.eos:
            self.reasons[row] = "eos"
        elif stops:
            text, self.reasons[row] = text[: min(stops)], "stop"
        elif len(self.new_ids[row]) >= self.budget:
            self.reasons[row] = "length" if self.budget == self.settings.max_new_tokens else "context"
        # A character split over tokens decodes to U+FFFD until its last byte arrives.
        self.texts[row] = text if self.reasons[row] else text.rstrip("\ufffd")

    def _completions(self, seconds: float) -> tuple[Completion, ...]:
        tokenizer = self.model.tokenizer
        return tuple(
            Completion(
                prompt=prompt,
                text=self.texts[row],
                token_ids=np.asarray(self.new_ids[row], dtype=np.int64),
                token_texts=tuple(tokenizer.decode([t], skip_special_tokens=False) for t in self.new_ids[row]),
                token_labels=tuple(token_label(tokenizer, t) for t in self.new_ids[row]),
                logprobs=np.asarray(self.logprobs[row], dtype=np.float64),
                finish_reason=self.reasons[row] or "length",
                seconds=seconds,
            )
            for row, prompt in enumerate(self.prompts)
        )


def eos_ids(model: LoadedModel) -> set[int]:
    """Every id that ends a completion: the tokenizer's EOS and the generation config's (one id or a list)."""
    ids = {model.tokenizer.eos_token_id}
    configured = getattr(getattr(model.model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    return {i for i in ids if i is not None}

"""Generate-and-match decoding after a shared prefix KV cache, and the throughput probe used for time estimates."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from core.analysis import check_length
from core.generation import eos_ids  # the same end-of-sequence ids as free generation
from core.models import LoadedModel
from core.prompting.label_scoring import (
    EMPTY,
    Cancelled,
    Prefix,
    Row,
    ShouldStop,
    cache_for,
    prefill,
    split_after_prefix,
)
from core.runtime import calls, gate
from core.sampling import GenerationSettings, choose_next


def generate_after_prefix(
    model: LoadedModel, prefix: str, suffixes: Sequence[str], settings: GenerationSettings,
    batch_rows: int = 12, should_stop: ShouldStop | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> list[str]:
    """The completion text of prefix + each suffix; the prefix is prefilled once and shared.

    Same decoding as core.generation (greedy or seeded sampling, stop strings, end of sequence).
    """
    settings = settings.normalized(model.info.vocab_size)
    state = prefill(model, prefix)
    rows = []
    for item, suffix in enumerate(suffixes):
        ids = model.tokenizer(prefix + suffix)["input_ids"]
        after = split_after_prefix(state, ids)
        rows.append(Row("cached" if after is not None else "plain", after if after is not None else ids,
                        [(item, 0, [])]))
    texts = [""] * len(suffixes)
    done = 0
    for batch in _batches(rows, batch_rows):
        if should_stop is not None and should_stop():
            raise Cancelled()
        batch_prefix = state if batch[0].group == "cached" else EMPTY
        for row, text in zip(batch, _decode_batch(model, batch_prefix, [r.ids for r in batch], settings)):
            texts[row.wants[0][0]] = text
        done += len(batch)
        if on_batch is not None:
            on_batch(done, len(rows))
    return texts


def _decode_batch(model: LoadedModel, prefix: Prefix, rows: list[list[int]], settings: GenerationSettings) -> list[str]:
    width = max(len(r) for r in rows)
    check_length(model, len(prefix) + width + 1, None, what="Prompt plus one new token")
    budget = min(settings.max_new_tokens, model.info.context_window - len(prefix) - width)
    generators = [torch.Generator().manual_seed(settings.seed + row) for row in range(len(rows))]
    eos = eos_ids(model)
    new_ids: list[list[int]] = [[] for _ in rows]
    texts, finished = [""] * len(rows), [False] * len(rows)
    logits, cache, mask, positions = _forward(model, prefix, rows, keep=1)
    for step in range(budget):
        chosen = choose_next(logits[:, -1, :], settings, generators)
        for row, token in enumerate(chosen.tolist()):
            if finished[row]:
                continue
            new_ids[row].append(token)
            text = model.tokenizer.decode(new_ids[row], skip_special_tokens=True)
            stops = [text.find(s) for s in settings.stop if s and s in text]
            texts[row] = text[: min(stops)] if stops else text
            finished[row] = token in eos or bool(stops)
        if all(finished) or step == budget - 1:
            break
        chosen = torch.where(torch.tensor(finished), torch.tensor(_pad_id(model)), chosen)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        positions = positions + 1
        with gate.inference(model):  # one decoding step per gate hold: others interleave
            output = calls.forward(model, input_ids=chosen[:, None], attention_mask=mask, position_ids=positions,
                                   cache=cache, use_cache=True, logits_to_keep=1)
        logits, cache = output.logits.float().cpu(), output.cache
    return texts


def _batches(rows: list, size: int) -> list[list]:
    """Rows sorted by length (less padding), cut into batches of one group each."""
    batches = []
    for group in ("cached", "plain"):
        chosen = sorted((r for r in rows if r.group == group), key=lambda r: len(r.ids))
        batches += [chosen[start:start + size] for start in range(0, len(chosen), size)]
    return batches


def _batch_inputs(prefix: Prefix, rows: Sequence[Sequence[int]], pad: int):
    """Left-pad the suffix rows after the prefix: ids (rows, width), mask (rows, prefix + width), positions.

    A batch is laid out prefix | padding | suffix, the padding masked out and position ids counted past
    the prefix, so every row ends in the same column and new tokens append there.
    """
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), len(prefix) + width), dtype=torch.long)
    mask[:, : len(prefix)] = 1
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    for row, tokens in enumerate(rows):
        start = width - len(tokens)
        ids[row, start:] = torch.tensor(tokens)
        mask[row, len(prefix) + start:] = 1
        positions[row, start:] = torch.arange(len(prefix), len(prefix) + len(tokens))
    return ids, mask, positions


def _pad_id(model: LoadedModel) -> int:
    pad = model.tokenizer.pad_token_id
    return pad if pad is not None else (model.tokenizer.eos_token_id or 0)


def _forward(model: LoadedModel, prefix: Prefix, rows, keep: int, cache=None):
    """One batched forward (one gate hold): returns (logits of the last `keep` columns, cache, mask)."""
    ids, mask, positions = _batch_inputs(prefix, rows, _pad_id(model))
    with gate.inference(model):
        output = calls.forward(model, input_ids=ids, attention_mask=mask, position_ids=positions,
                               cache=cache if cache is not None else cache_for(model, prefix, len(rows)),
                               use_cache=True, logits_to_keep=keep)
    return output.logits.float().cpu(), output.cache, mask, positions[:, -1:]


@dataclass(frozen=True)
class Throughput:
    """Measured speed of this model on this machine, for time estimates before a long job."""

    tokens_per_second: float  # prompt tokens processed per second in a batched forward
    seconds_per_step: float  # one batched decoding step (a forward of one new token per row)


def measure_throughput(model: LoadedModel, rows: int = 8, width: int = 48) -> Throughput:
    """Time one batched forward of rows × width tokens, then one decoding step after it (two gate holds)."""
    ids = [[(i * 7 + j) % max(model.info.vocab_size - 1, 1) for j in range(width)] for i in range(rows)]
    started = time.perf_counter()
    logits, cache, mask, positions = _forward(model, EMPTY, ids, keep=1)
    prefill_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with gate.inference(model):
        calls.forward(model, input_ids=logits[:, -1].argmax(-1, keepdim=True), attention_mask=torch.cat(
            [mask, torch.ones_like(mask[:, :1])], dim=1), position_ids=positions + 1, cache=cache, use_cache=True,
            logits_to_keep=1)
    step_seconds = time.perf_counter() - started
    return Throughput(rows * width / max(prefill_seconds, 1e-6), step_seconds)

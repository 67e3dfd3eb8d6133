"""Rank labels by log-likelihood and generate after a shared prompt prefix whose KV cache is computed once.

The prompt of every item in an evaluation run starts with the same instruction and shots. `prefill`
runs that prefix once and keeps its key/value tensors; every later batch starts from a fresh
`DynamicCache` built from them (so the stored prefix is never mutated) and only runs the suffixes.
Generation batches are laid out prefix | padding | suffix, with the padding masked out and position
ids counted past the prefix, so every row ends in the same column and new tokens append there.
Label scoring packs its rows end to end into one sequence instead (core.packed_attention), and a
prefix given as text runs its not-yet-known tokens in the same forward as the first pack.

Label scores follow lm-evaluation-harness's multiple-choice log-likelihood: the continuation is
" " + label, trailing whitespace of the context moves into the continuation, and the continuation's
tokens are those of tokenize(context + continuation) beyond the tokens of tokenize(context).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import DynamicCache

from core import gate, packed_attention
from core.analysis import check_length
from core.generation import eos_ids  # the same end-of-sequence ids as free generation
from core.models import LoadedModel
from core.sampling import GenerationSettings, choose_next

ShouldStop = Callable[[], bool]
# Tokens per packed scoring forward (rows plus the prefix tokens folded in). Measured on SmolLM2
# with packed attention (1 thread): 1.8 ms/token at 220 tokens, 1.7 at 440, 880 and 1,320; 512
# holds one run of the topic preset (33 rows + up to 141 new prefix tokens) in one forward.
PACK_TOKENS = 512


class Cancelled(Exception):
    """Raised between batches when the caller asked to stop."""


@dataclass(frozen=True)
class Prefix:
    """A prompt prefix run once: its text, token ids and per-layer (keys, values) of batch size 1."""

    text: str
    ids: tuple[int, ...]
    kv: tuple[tuple[torch.Tensor, torch.Tensor], ...]  # per layer: (1, kv_heads, pos, head_dim) each

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class LabelScores:
    """Log-likelihood of each label after each context (item)."""

    labels: tuple[str, ...]
    logprob: np.ndarray  # (item, label) sum of the label tokens' log-probabilities
    n_tokens: np.ndarray  # (item, label) number of continuation tokens scored
    cached: np.ndarray  # (item,) True where the shared prefix cache was used, False after a boundary merge
    tokens_run: int  # tokens the model processed (prefix + suffix rows), for throughput
    seconds: float
    prefix: Prefix | None = None  # the shared prefix with its KV cache (EMPTY without the cache)

    def scores(self, normalise: str = "sum") -> np.ndarray:
        """(item, label) ranking scores: "sum" of log-probs, or "token": mean log-prob per label token."""
        if normalise == "token":
            return self.logprob / np.maximum(self.n_tokens, 1)
        if normalise == "sum":
            return self.logprob
        raise ValueError(f"Unknown normalisation '{normalise}'; choose sum or token.")

    def probabilities(self, normalise: str = "sum") -> np.ndarray:
        """(item, label) softmax over the labels' scores: the model's choice among the labels only."""
        scores = self.scores(normalise)
        shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)


EMPTY = Prefix("", (), ())


def encode_pair(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids) as lm-evaluation-harness splits a context and its continuation."""
    spaces = len(context) - len(context.rstrip())
    if spaces:  # "Label: " + "x" is scored as "Label:" + " x": the space belongs to the answer
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole = tokenizer(context + continuation)["input_ids"]
    context_ids = tokenizer(context)["input_ids"]
    return context_ids, whole[len(context_ids):]


def prefill(model: LoadedModel, text: str, known: Sequence[Prefix] = ()) -> Prefix:
    """Run the prefix once (inside the gate) and keep its KV cache.

    known: prefixes already computed in this job; only the tokens after the longest token prefix
    shared with one of them run (see _reused).
    """
    ids = _prefix_ids(model, text)
    base = _reused(ids, known)
    if len(base) == len(ids):
        return Prefix(text, ids, base.kv)
    with gate.inference(model):
        output = model.model(input_ids=torch.tensor([ids[len(base):]]), use_cache=True, logits_to_keep=1,
                             position_ids=torch.arange(len(base), len(ids))[None], cache=_cache_for(model, base, 1))
    return Prefix(text, ids, tuple((layer.keys, layer.values) for layer in output.cache.layers))


def _prefix_ids(model: LoadedModel, text: str) -> tuple[int, ...]:
    ids = tuple(model.tokenizer(text)["input_ids"]) if text else ()
    check_length(model, len(ids), None, what="The shared prompt prefix")
    return ids


def _reused(ids: tuple[int, ...], known: Sequence[Prefix]) -> Prefix:
    """The longest token prefix of ids shared with a known prefix, its KV sliced from it (EMPTY if none).

    Keys and values of the first L tokens depend on those tokens only, so k = 4 shots after k = 8 in
    the same order runs nothing, and leaving shot 3 out reruns from shot 3 on.
    """
    shared, source = 0, EMPTY
    for other in known:
        common = next((i for i, (a, b) in enumerate(zip(ids, other.ids)) if a != b), min(len(ids), len(other)))
        if common > shared:
            shared, source = common, other
    return Prefix("", ids[:shared], tuple((k[:, :, :shared], v[:, :, :shared]) for k, v in source.kv))


def split_after_prefix(prefix: Prefix, ids: Sequence[int]) -> list[int] | None:
    """The ids after the prefix when ids really start with the prefix's tokens (else None: a merge)."""
    n = len(prefix)
    if n and len(ids) > n and tuple(ids[:n]) == prefix.ids:
        return list(ids[n:])
    return None


def _cache_for(model: LoadedModel, prefix: Prefix, rows: int) -> DynamicCache | None:
    # A fresh cache per batch: DynamicLayer.update concatenates into new tensors, so the prefix's
    # stored tensors are read, expanded to the batch, and never written.
    if not len(prefix):
        return None
    data = [(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1)) for k, v in prefix.kv]
    return DynamicCache(data, config=model.model.config)


def _batch_inputs(prefix: Prefix, rows: Sequence[Sequence[int]], pad: int):
    """Left-pad the suffix rows after the prefix: ids (rows, width), mask (rows, prefix + width), positions."""
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
        output = model.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                             cache=cache if cache is not None else _cache_for(model, prefix, len(rows)),
                             use_cache=True, logits_to_keep=keep)
    return output.logits.float(), output.cache, mask, positions[:, -1:]


@dataclass
class _Row:
    group: str  # "cached": runs after the prefix; "plain": a boundary merge, runs the whole context
    ids: list[int]
    wants: list[tuple[int, int, list[int]]]  # (item, label, continuation ids) read from this row


def _encode_pairs(tokenizer, contexts: Sequence[str], continuations: Sequence[str]) -> tuple[list, list]:
    """encode_pair for every (context, continuation), in two batched tokenizer calls.

    Returns (per context: its ids, per context: one continuation id list per continuation).
    """
    heads, tails = [], []
    for context in contexts:
        spaces = len(context) - len(context.rstrip())
        heads.append(context[: len(context) - spaces])
        tails.append(context[len(context) - spaces:])
    head_ids = tokenizer(heads)["input_ids"]
    wholes = tokenizer([h + t + c for h, t in zip(heads, tails) for c in continuations])["input_ids"]
    n = len(continuations)
    return head_ids, [[wholes[i * n + j][len(ids):] for j in range(n)] for i, ids in enumerate(head_ids)]


def _plan_rows(model: LoadedModel, prefix: Prefix, suffixes: Sequence[str], labels: Sequence[str],
               delimiter: str) -> tuple[list[_Row], np.ndarray, np.ndarray]:
    """One row per distinct (context + continuation minus its last token): labels sharing it share a row."""
    rows: dict[tuple[str, tuple[int, ...]], _Row] = {}
    counts = np.zeros((len(suffixes), len(labels)), dtype=np.int64)
    cached = np.zeros(len(suffixes), dtype=bool)
    contexts, continuations = _encode_pairs(model.tokenizer, [prefix.text + s for s in suffixes],
                                            [delimiter + label for label in labels])
    for item, (context_ids, item_continuations) in enumerate(zip(contexts, continuations)):
        after = split_after_prefix(prefix, context_ids)
        cached[item] = after is not None
        group, head = ("cached", after) if after is not None else ("plain", context_ids)
        for label_index, continuation in enumerate(item_continuations):
            if not continuation:
                raise ValueError(f"The label {labels[label_index]!r} adds no tokens after the prompt: "
                                 "it cannot be scored.")
            check_length(model, len(context_ids) + len(continuation), None, what="A prompt plus its label")
            key = (group, tuple(head + continuation[:-1]))
            rows.setdefault(key, _Row(group, list(key[1]), [])).wants.append((item, label_index, continuation))
            counts[item, label_index] = len(continuation)
    return list(rows.values()), counts, cached


def _batches(rows: list, size: int) -> list[list]:
    """Rows sorted by length (less padding), cut into batches of one group each."""
    batches = []
    for group in ("cached", "plain"):
        chosen = sorted((r for r in rows if r.group == group), key=lambda r: len(r.ids))
        batches += [chosen[start:start + size] for start in range(0, len(chosen), size)]
    return batches


def _packs(rows: list[_Row], tokens: int, reserved: int = 0) -> list[list[_Row]]:
    """Rows of one group laid end to end, up to `tokens` tokens per pack (a long row alone).

    reserved: tokens the first "cached" pack also carries (the prefix tokens not computed yet).
    """
    packs: list[list[_Row]] = []
    for group in ("cached", "plain"):
        current, size = [], reserved if group == "cached" else 0
        for row in (r for r in rows if r.group == group):
            if current and size + len(row.ids) > tokens:
                packs.append(current)
                current, size = [], 0
            current.append(row)
            size += len(row.ids)
        if current:
            packs.append(current)
    return packs


def _packed_logprobs(model: LoadedModel, known: Prefix, pending: Sequence[int],
                     pack: list[_Row]) -> tuple[list[torch.Tensor], DynamicCache]:
    """One forward over the pending prefix tokens and a pack of rows (see core.packed_attention).

    known: the prefix part already in a KV cache; pending: the prefix tokens after it, run first
    (causal); then each row sees the whole prefix and itself only. Returns, per row, the
    log-softmax at its last m positions (m, vocab), m being the longest continuation read from
    that row, and the output cache (its first len(known) + len(pending) positions are the prefix).
    One sequence instead of a padded batch: the prefix cache is not copied per row, and the matrix
    products get every row's tokens at once.
    """
    ids = list(pending) + [t for row in pack for t in row.ids]
    start = len(known) + len(pending)
    positions, keep, end = [torch.arange(len(known), start)], [], len(pending)
    for row in pack:
        positions.append(torch.arange(start, start + len(row.ids)))  # every row continues the prefix
        end += len(row.ids)
        keep.append(torch.arange(end - max(len(c) for _, _, c in row.wants), end))
    layout = packed_attention.layout(len(pending), [len(row.ids) for row in pack])
    with gate.inference(model), packed_attention.selected(model.model):
        output = model.model(input_ids=torch.tensor([ids]), use_cache=True, position_ids=torch.cat(positions)[None],
                             cache=_cache_for(model, known, 1), logits_to_keep=torch.cat(keep), pack_layout=layout)
    logprobs = torch.log_softmax(output.logits[0].float(), dim=-1)
    return list(torch.split(logprobs, [len(k) for k in keep])), output.cache


def score_labels(
    model: LoadedModel, prefix: str | Prefix, suffixes: Sequence[str], labels: Sequence[str],
    delimiter: str = " ", use_cache: bool = True, pack_tokens: int | None = None,
    should_stop: ShouldStop | None = None, on_batch: Callable[[int, int], None] | None = None,
    known: Sequence[Prefix] = (),
) -> LabelScores:
    """log P(delimiter + label | prefix + suffix) for every suffix and label, the prefix run once.

    A prefix given as text is computed on the way: the tokens it shares with a known prefix are
    reused, the rest run in the same forward as the first pack of rows (LabelScores.prefix is the
    result, for later runs' known). The suffix rows run after it, packed into sequences of about
    pack_tokens tokens. A suffix whose tokens do not start with the prefix's tokens (the boundary
    merged two tokens) is scored without the cache. use_cache=False scores everything that way.
    """
    if not labels:
        raise ValueError("No labels to rank: add labelled examples.")
    started = time.perf_counter()
    text = prefix.text if isinstance(prefix, Prefix) else prefix
    if not use_cache:
        plan, base = Prefix(text, (), ()), EMPTY  # the prefix text is still part of every context
    elif isinstance(prefix, Prefix):
        plan = base = prefix
    else:
        plan = Prefix(text, _prefix_ids(model, text), ())
        base = _reused(plan.ids, known)
    rows, counts, cached = _plan_rows(model, plan, suffixes, labels, delimiter)
    pending = plan.ids[len(base):]
    if pending and cached.sum() == 0:  # no row to carry them: compute the prefix for later runs alone
        base, pending = prefill(model, text, [base]), ()
    logprob = np.zeros(counts.shape, dtype=np.float64)
    tokens_run, packs = len(plan), _packs(rows, PACK_TOKENS if pack_tokens is None else pack_tokens, len(pending))
    for done, pack in enumerate(packs, start=1):
        if should_stop is not None and should_stop():
            raise Cancelled()
        group_cached = pack[0].group == "cached"
        read, cache = _packed_logprobs(model, base if group_cached else EMPTY, pending if group_cached else (), pack)
        if group_cached and pending:
            base, pending = _prefix_from(plan, cache), ()
        for row, logprobs in zip(pack, read):
            for item, label_index, continuation in row.wants:
                columns = torch.arange(len(logprobs) - len(continuation), len(logprobs))
                logprob[item, label_index] = float(logprobs[columns, torch.tensor(continuation)].sum())
        tokens_run += sum(len(r.ids) for r in pack)
        if on_batch is not None:
            on_batch(done, len(packs))
    result_prefix = Prefix(text, plan.ids, base.kv) if use_cache and len(base) == len(plan) else EMPTY
    return LabelScores(tuple(labels), logprob, counts, cached, tokens_run, time.perf_counter() - started,
                       result_prefix)


def _prefix_from(plan: Prefix, cache: DynamicCache) -> Prefix:
    # A copy of the prefix positions: a view would keep the whole pack's keys alive in `known`.
    n = len(plan)
    return Prefix(plan.text, plan.ids, tuple((layer.keys[:, :, :n].clone(), layer.values[:, :, :n].clone())
                                             for layer in cache.layers))


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
        rows.append(_Row("cached" if after is not None else "plain", after if after is not None else ids,
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
            output = model.model(input_ids=chosen[:, None], attention_mask=mask, position_ids=positions,
                                 cache=cache, use_cache=True, logits_to_keep=1)
        logits, cache = output.logits.float(), output.cache
    return texts



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
        model.model(input_ids=logits[:, -1].argmax(-1, keepdim=True), attention_mask=torch.cat(
            [mask, torch.ones_like(mask[:, :1])], dim=1), position_ids=positions + 1, cache=cache, use_cache=True,
            logits_to_keep=1)
    step_seconds = time.perf_counter() - started
    return Throughput(rows * width / max(prefill_seconds, 1e-6), step_seconds)

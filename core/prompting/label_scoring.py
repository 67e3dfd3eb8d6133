"""Rank labels by log-likelihood after a shared prompt prefix whose KV cache is computed once.

The prompt of every item in an evaluation run starts with the same instruction and shots. `prefill`
runs that prefix once and keeps its key/value tensors; every later forward starts from a fresh
`DynamicCache` built from them (so the stored prefix is never mutated) and only runs the suffixes.
Label scoring packs its rows end to end into one sequence (core.runtime.packed_attention), and a prefix
given as text runs its not-yet-known tokens in the same forward as the first pack. Generating after
the prefix lives in core.prompting.prefix_generation, which shares Prefix, prefill and cache_for from here.

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

from core.analysis import check_length
from core.models import LoadedModel
from core.runtime import calls, gate, packed_attention

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
        output = calls.forward(model, input_ids=torch.tensor([ids[len(base):]]), use_cache=True, logits_to_keep=1,
                               position_ids=torch.arange(len(base), len(ids))[None], cache=cache_for(model, base, 1))
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


def cache_for(model: LoadedModel, prefix: Prefix, rows: int) -> DynamicCache | None:
    """A DynamicCache holding the prefix's keys and values expanded to `rows` rows (None for no prefix)."""
    # A fresh cache per batch: DynamicLayer.update concatenates into new tensors, so the prefix's
    # stored tensors are read, expanded to the batch, and never written.
    if not len(prefix):
        return None
    data = [(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1)) for k, v in prefix.kv]
    return DynamicCache(data, config=model.model.config)


@dataclass
class Row:
    """One input row of a batch or pack, and what is read from it."""

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
               delimiter: str) -> tuple[list[Row], np.ndarray, np.ndarray]:
    """One row per distinct (context + continuation minus its last token): labels sharing it share a row."""
    rows: dict[tuple[str, tuple[int, ...]], Row] = {}
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
            rows.setdefault(key, Row(group, list(key[1]), [])).wants.append((item, label_index, continuation))
            counts[item, label_index] = len(continuation)
    return list(rows.values()), counts, cached


def _packs(rows: list[Row], tokens: int, reserved: int = 0) -> list[list[Row]]:
    """Rows of one group laid end to end, up to `tokens` tokens per pack (a long row alone).

    reserved: tokens the first "cached" pack also carries (the prefix tokens not computed yet).
    """
    packs: list[list[Row]] = []
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
                     pack: list[Row]) -> tuple[list[torch.Tensor], DynamicCache]:
    """One forward over the pending prefix tokens and a pack of rows (see core.runtime.packed_attention).

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
    with gate.inference(model), packed_attention.selected(calls.network(model)):
        output = calls.forward(model, input_ids=torch.tensor([ids]), use_cache=True,
                               position_ids=torch.cat(positions)[None], cache=cache_for(model, known, 1),
                               logits_to_keep=torch.cat(keep), pack_layout=layout)
    logprobs = torch.log_softmax(output.logits[0].float(), dim=-1).cpu()
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


def null_logprobs(model: LoadedModel, labels: Sequence[str], delimiter: str = " ") -> np.ndarray:
    """(label,) log P(delimiter + label | a content-free prompt), for PMI scores (acc_mutual_info).

    The content-free prompt is what lm-evaluation-harness's HFLM feeds for an empty context: the
    tokenizer's start token (bos), or its end-of-text token when it has none. One small forward,
    through the inference gate like every other label score.
    """
    token = model.tokenizer.bos_token or model.tokenizer.eos_token
    if not token:
        raise ValueError("This model's tokenizer has no start or end-of-text token to stand for an empty prompt.")
    return score_labels(model, "", [token], labels, delimiter, use_cache=False).logprob[0]

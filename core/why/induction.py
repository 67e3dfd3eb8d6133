"""Induction heads (Olsson et al. 2022): heads that find an earlier copy of the current token and
attend to the token that followed it, so a repeated sequence becomes predictable.

The test input is a seeded random token sequence repeated twice. The induction score of a head is
the attention it pays, from each token with an earlier copy, to the token after that copy; on the
repeated sequence that is attention from second-half position i to position i − n + 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.models import LoadedModel
from core.runtime import calls, gate
from core.why.interventions import Progress, all_heads, run_ablated, run_in_batches

MIN_REPEAT, MAX_REPEAT = 4, 48  # cost cap: 2 × 48 tokens, and layers × heads ablated copies for the loss scan
LOSS_BATCH_TOKENS = 1024  # the loss scan keeps logits for every repeated position, so smaller batches


@dataclass(frozen=True)
class Induction:
    """Per-head induction scores on a repeated random sequence, and how the model's loss drops."""

    ids: tuple[int, ...]  # [bos] + r + r
    repeat: int  # n, the length of r
    scores: np.ndarray  # (layer, head) in [0, 1]
    loss: np.ndarray  # (pos-1,) cross-entropy of predicting each next token, in nats
    first_loss: float  # mean loss on the first copy (random: near log vocab)
    second_loss: float  # mean loss on the repeat (low when induction works)


def repeated_sequence(model: LoadedModel, n: int, seed: int = 0) -> tuple[int, ...]:
    """[bos] + r + r with r n random non-special token ids drawn with the given seed."""
    if not MIN_REPEAT <= n <= MAX_REPEAT:
        raise ValueError(f"The repeated sequence has {MIN_REPEAT}–{MAX_REPEAT} tokens; got {n}.")
    tokenizer = model.tokenizer
    special = set(tokenizer.all_special_ids)
    vocab = np.array([i for i in range(min(len(tokenizer), model.info.vocab_size)) if i not in special])
    r = np.random.default_rng(seed).choice(vocab, size=n, replace=False).tolist()
    start = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    return tuple(int(i) for i in start + r + r)


def induction_scores(attention: np.ndarray, ids: Sequence[int]) -> np.ndarray:
    """(layer, head) mean attention from each token to the token after its earlier copies.

    attention: (layer, head, query, key); ids: (pos,). NaN where no token repeats.
    """
    ids = np.asarray(ids)
    queries, keys = [], []
    for query in range(1, len(ids)):
        earlier = np.flatnonzero(ids[:query] == ids[query]) + 1  # the token after each earlier copy
        for key in earlier[earlier <= query]:
            queries.append(query)
            keys.append(key)
    if not queries:
        return np.full(attention.shape[:2], np.nan)
    weights = attention[:, :, queries, keys]  # (layer, head, pairs)
    per_query = np.zeros(attention.shape[:2] + (len(ids),))
    np.add.at(per_query, (slice(None), slice(None), np.array(queries)), weights)
    return per_query[:, :, sorted(set(queries))].mean(-1)


def _token_loss(logits: np.ndarray, ids: Sequence[int]) -> np.ndarray:
    """(..., pos-1) cross-entropy of each next token; logits (..., pos, vocab).

    logsumexp in torch (max-subtracted, so float32 is exact to ~1e-6): numpy's float64 softmax over
    49k tokens per position was a third of the loss scan's time.
    """
    scores = torch.from_numpy(np.ascontiguousarray(logits[..., :-1, :]))
    following = torch.as_tensor(np.asarray(ids)[1:]).expand(*scores.shape[:-1])
    picked = scores.gather(-1, following[..., None])[..., 0]
    return (torch.logsumexp(scores, -1) - picked).double().numpy()


def induction(model: LoadedModel, n: int = 24, seed: int = 0) -> Induction:
    """Induction score of every head and the loss on both copies, from one forward pass."""
    ids = repeated_sequence(model, n, seed)
    with gate.inference(model):
        output = calls.forward(model, input_ids=calls.ids_tensor(model, [list(ids)]), output_attentions=True,
                               use_cache=False)
    if not output.attentions:
        raise RuntimeError("The model returned no attention weights; load it with eager attention.")
    attention = calls.to_numpy(torch.cat(output.attentions))  # (layer, head, query, key)
    loss = _token_loss(calls.to_numpy(output.logits[0]), ids)
    first = len(ids) - 2 * n  # 1 with a bos token
    return Induction(ids, n, induction_scores(attention, ids), loss,
                     float(loss[first:first + n - 1].mean()), float(loss[first + n - 1:].mean()))


def loss_drop_scan(model: LoadedModel, ids: Sequence[int], n: int, progress: Progress | None = None,
                   rows_per_batch: int | None = None, reuse_prefix: bool = True) -> np.ndarray:
    """(layer, head) rise of the mean loss on the repeat when that head is zero-ablated.

    Positive = the head lowers the repeat loss. Cost cap: layers × heads ablated copies of at most
    2 × MAX_REPEAT + 1 tokens, batched about LOSS_BATCH_TOKENS tokens a batch, each batch run from its
    first edited layer on the unablated residual stream (as the head scan does); the defaults
    rows_per_batch=None, reuse_prefix=True are the fast path, 1 and False one full forward per head.
    """
    keep = n + 1  # logits predicting the n repeated tokens (and one past the end, dropped)
    repeat_ids = list(ids)[-keep:]
    clean = _token_loss(run_ablated(model, ids, [()], keep=keep), repeat_ids)[0].mean()
    losses = run_in_batches(model, ids, [(h,) for h in all_heads(model)], None, progress,
                            rows_per_batch or max(1, LOSS_BATCH_TOKENS // len(ids)), reuse_prefix,
                            keep=keep, reduce=lambda logits: _token_loss(logits, repeat_ids).mean(-1))
    return (losses - clean).reshape(model.info.layers, model.info.heads)

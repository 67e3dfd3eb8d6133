"""Analyze requests that wait for the same model together run as one right-padded forward pass.

The first waiter whose turn comes at the gate becomes the leader: it takes the other queued requests
for that model (up to a memory bound), runs them as one batch (one padded forward per lane of cores,
core.runtime.lanes), cuts each prompt's attention, hidden states and logits back out, and hands them over.
The served requests leave the gate queue without running anything. Right padding with an attention
mask leaves every real position's numbers as they are one by one (position ids start at 0 in every
row; padded keys get zero weight), for causal and bidirectional models alike.
"""

from __future__ import annotations

import functools
import threading
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch

from core.models import LoadedModel
from core.runtime import arrays, calls, devices, gate, lanes

# Bound on one batch's returned arrays: attention (prompts × layer × head × pos²) and hidden states.
# Eager attention also holds one layer's scores while computing, so the peak is about this plus one
# layer. 768 MB fits two 512-token SmolLM2 prompts (283 MB of attention each) or 20 of 100 tokens.
MAX_BATCH_BYTES = 768 * 2**20


@dataclass(frozen=True)
class Forward:
    """One prompt's share of a batched forward pass, as CPU float32 numpy (read-only)."""

    attention: np.ndarray  # (layer, head, query, key)
    hidden_states: np.ndarray  # (layer+1, pos, d_model)
    embeddings: np.ndarray  # (pos, d_model)
    next_token_logits: np.ndarray | None  # (vocab,) for decoders


@dataclass(eq=False)  # identity, not array comparison
class _Request:
    ids: np.ndarray  # (pos,) int64
    served: threading.Event = field(default_factory=threading.Event)
    result: Forward | None = None
    error: BaseException | None = None


def batch_bytes(model: LoadedModel, lengths: list[int]) -> int:
    """Bytes of the arrays one padded batch of these prompt lengths returns (float32)."""
    info, longest = model.info, max(lengths)
    attention = info.layers * info.heads * longest * longest
    hidden = (info.layers + 2) * longest * info.d_model  # hidden states + input embeddings
    return 4 * len(lengths) * (attention + hidden)


class AnalyzeBatcher:
    """Collects analyze requests per model; whoever gets the gate runs the waiting ones together."""

    def __init__(self, max_batch_bytes: int = MAX_BATCH_BYTES):
        self.max_batch_bytes = max_batch_bytes
        self._lock = threading.Lock()
        self._pending: dict[object, list[_Request]] = {}
        self.batch_sizes: deque[int] = deque(maxlen=256)  # sizes of the latest batches (tests, bench)

    def forward(self, model: LoadedModel, ids: np.ndarray) -> Forward:
        """The arrays of one prompt (pos,) ids, computed alone or batched with waiting requests."""
        key = gate.gate_key(model)
        if gate.GATE.is_held(key):  # nested inside a held gate: nobody else can join, run it now
            return self._run(model, [_Request(ids)])[0]
        request = _Request(np.asarray(ids, dtype=np.int64))
        with self._lock:
            self._pending.setdefault(key, []).append(request)
        with gate.GATE.hold_unless(key, request.served) as turn:
            if turn and not request.served.is_set():
                self._lead(model, key, request)
        if request.error is not None:
            raise request.error
        return request.result

    def _lead(self, model: LoadedModel, key: object, own: _Request) -> None:
        batch = self._take(model, key, own)
        try:
            results = self._run(model, batch)
        except BaseException as error:  # every request of the batch gets the same failure
            for request in batch:
                request.error = error
                request.served.set()
            raise
        for request, result in zip(batch, results):
            request.result = result
            request.served.set()

    def _take(self, model: LoadedModel, key: object, own: _Request) -> list[_Request]:
        """Own request first, then waiting ones in arrival order while the batch fits the bound."""
        with self._lock:
            pending = self._pending.get(key, [])
            batch = [own]
            for request in pending:
                lengths = [len(r.ids) for r in (*batch, request)]
                if request is not own and batch_bytes(model, lengths) <= self.max_batch_bytes:
                    batch.append(request)
            rest = [r for r in pending if r not in batch]
            if rest:
                self._pending[key] = rest
            else:
                self._pending.pop(key, None)
        self.batch_sizes.append(len(batch))
        return batch

    def _run(self, model: LoadedModel, batch: list[_Request]) -> list[Forward]:
        return forward_many(model, [r.ids for r in batch])


def forward_many(model: LoadedModel, rows: list[np.ndarray]) -> list[Forward]:
    """Several prompts' (pos,) ids as right-padded forward passes, cut back per prompt (inside the gate).

    The prompts are grouped by length into one padded forward per lane (core.runtime.lanes), run at once.
    """
    with gate.inference(model):
        groups = lanes.split([len(ids) for ids in rows], lanes.count(model))
        outputs = lanes.run([functools.partial(_padded_forward, model, [rows[i] for i in group]) for group in groups])
    results: list[Forward | None] = [None] * len(rows)
    for group, (output, embedded) in zip(groups, outputs):
        for row, index in enumerate(group):
            results[index] = _cut(model, output, embedded, row, len(rows[index]))
    return results


def _padded_forward(model: LoadedModel, rows: list[np.ndarray]):
    """One forward over right-padded rows; returns the model output and the input embeddings."""
    lengths = [len(r) for r in rows]
    pad = model.tokenizer.pad_token_id or 0
    ids = torch.full((len(rows), max(lengths)), pad, dtype=torch.int64)
    mask = torch.zeros_like(ids)
    for row, values in enumerate(rows):
        ids[row, : len(values)] = torch.from_numpy(values)
        mask[row, : len(values)] = 1
    ids, mask = devices.to_model(model, ids), devices.to_model(model, mask)
    kwargs = {"output_attentions": True, "output_hidden_states": True, "attention_mask": mask}
    if model.info.is_decoder:  # only each row's last real position is needed: skip the rest of the vocab
        kwargs["logits_to_keep"] = devices.to_model(model, torch.tensor(lengths)[:, None] - 1)
    output = calls.forward(model, ids, **kwargs)
    embedded = calls.embed(model, ids)
    if not output.attentions:
        raise RuntimeError("The model returned no attention weights; load it with eager attention.")
    return output, embedded


def _cut(model: LoadedModel, output, embedded: torch.Tensor, row: int, n: int) -> Forward:
    attention = torch.stack([layer[row, :, :n, :n] for layer in output.attentions])  # (layer, head, q, k)
    hidden = torch.stack([layer[row, :n] for layer in output.hidden_states])  # (layer+1, pos, d_model)
    logits = getattr(output, "logits", None) if model.info.is_decoder else None
    return Forward(
        attention=frozen(attention),
        hidden_states=frozen(hidden),
        embeddings=frozen(embedded[row, :n].clone()),  # clone: a view would keep the whole batch alive
        next_token_logits=None if logits is None else frozen(logits[row, -1].clone()),
    )


def frozen(tensor: torch.Tensor) -> np.ndarray:
    """Read-only float32 CPU numpy (core.runtime.arrays.frozen): results are cached and shared."""
    return arrays.frozen(tensor, np.float32)


BATCHER = AnalyzeBatcher()

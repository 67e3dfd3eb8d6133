"""Logit lens: what each layer would predict if the model stopped there (final norm, then unembedding)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.analysis import Analysis
from core.models import LoadedModel
from core.runtime import calls, gate
from core.runtime.arrays import frozen
from core.tokens import token_label

MAX_LENS_POSITIONS = 32  # a heatmap wider than this is unreadable; the last positions matter most
_CHUNK_ROWS = 256  # rows of (vocab,) logits computed at once: 50 MB for a 49k vocabulary
_FINAL_NORM_NAMES = ("norm", "ln_f", "final_layernorm", "norm_f", "final_layer_norm")


@dataclass(frozen=True)
class LogitLens:
    """Per layer and position: the top token and the probability of the model's final prediction."""

    model_name: str
    positions: np.ndarray  # (pos,) indices into the analysed tokens (the last MAX_LENS_POSITIONS)
    labels: tuple[str, ...]  # (pos,) token labels at those positions
    top_ids: np.ndarray  # (layer+1, pos) most likely next token per layer; row 0 is the embeddings
    top_labels: tuple[tuple[str, ...], ...]  # (layer+1, pos) those tokens decoded
    top_probs: np.ndarray  # (layer+1, pos) their probability
    final_probs: np.ndarray  # (layer+1, pos) probability of the last layer's top token at that layer

    @property
    def final_ids(self) -> np.ndarray:
        """(pos,) the model's own prediction at each position (the last row)."""
        return self.top_ids[-1]


def final_norm(model: LoadedModel) -> torch.nn.Module:
    """The norm the model applies to its last hidden state before the unembedding."""
    base = calls.network(model).base_model
    for name in _FINAL_NORM_NAMES:
        module = getattr(base, name, None)
        if isinstance(module, torch.nn.Module):
            return module
    raise ValueError(f"{model.name}: no final norm found (looked for {', '.join(_FINAL_NORM_NAMES)}).")


def logit_lens(model: LoadedModel, analysis: Analysis, max_positions: int = MAX_LENS_POSITIONS) -> LogitLens:
    """Unembed every layer's hidden state through the final norm, for the last max_positions tokens."""
    if not model.info.is_decoder or analysis.next_token_logits is None:
        raise ValueError(f"{model.name} is an encoder: it has no next-token head to read layers through.")
    if analysis.model_name != model.name:
        raise ValueError(f"The analysis is of {analysis.model_name}, not {model.name}.")
    if max_positions < 1:
        raise ValueError(f"max_positions must be at least 1, got {max_positions}.")
    n_pos = analysis.hidden_states.shape[1]
    positions = np.arange(max(0, n_pos - max_positions), n_pos)
    hidden = calls.on_device(model, torch.from_numpy(np.array(analysis.hidden_states[:, positions])))
    # hidden: (layer+1, pos, d_model)
    n_layers, n_pos = hidden.shape[:2]
    with gate.inference(model):
        states = _normed_states(model, hidden, analysis.next_token_logits).reshape(n_layers * n_pos, -1)
        final_ids = calls.unembed(model, states[-n_pos:]).argmax(dim=-1)  # (pos,) the model's own prediction
        wanted = final_ids.repeat(n_layers)  # (layer+1 * pos,)
        top_ids, top_probs, final_probs = [], [], []
        # Rows in chunks: each chunk reads the (vocab, d_model) head once, and never holds all logits.
        for start in range(0, len(states), _CHUNK_ROWS):
            logprobs = torch.log_softmax(calls.unembed(model, states[start : start + _CHUNK_ROWS]).float(), dim=-1)
            best = logprobs.max(dim=-1)
            top_ids.append(best.indices)
            top_probs.append(best.values.double().exp())
            final_probs.append(logprobs.gather(-1, wanted[start : start + _CHUNK_ROWS, None])[:, 0].double().exp())
    shape = (n_layers, n_pos)
    arrays = (torch.cat(t).reshape(shape).cpu().numpy() for t in (top_ids, top_probs, final_probs))
    return _frozen_lens(model, analysis, positions, *arrays)


def _normed_states(model: LoadedModel, hidden: torch.Tensor, logits: np.ndarray) -> torch.Tensor:
    """(layer+1, pos, d_model) hidden states with the final norm applied, as the head expects them."""
    normed = calls.run_module(model, final_norm(model), hidden)
    # HF Llama and GPT-2 return the last hidden state with the final norm already applied: check
    # against the real logits rather than trust every architecture to do the same.
    raw = calls.to_numpy(calls.unembed(model, hidden[-1, -1]))
    scale = max(1.0, float(np.abs(logits).max()))
    if np.abs(raw - logits).max() <= 1e-3 * scale:
        normed[-1] = hidden[-1]
    return normed


def _frozen_lens(model, analysis, positions, top_ids, top_probs, final_probs) -> LogitLens:
    names = {int(i): token_label(model.tokenizer, int(i)) for i in np.unique(top_ids)}  # each id labelled once
    top_labels = tuple(tuple(names[int(i)] for i in row) for row in top_ids)
    positions, top_ids, top_probs, final_probs = (frozen(a) for a in (positions, top_ids, top_probs, final_probs))
    labels = tuple(analysis.tokens.labels[p] for p in positions)
    return LogitLens(model.name, positions, labels, top_ids, top_labels, top_probs, final_probs)

"""A small RNN, a GRU and one self-attention layer on the same sentence: steps, path length, gradient decay."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from core.models import LoadedModel
from core.runtime.arrays import frozen
from core.tokens import tokenize

MAX_RNN_TOKENS = 256  # the RNN loop runs once per token; past this the page would feel stuck
HIDDEN_RANGE = (4, 256)
EMBEDDINGS = ("model", "random")
_META = {"device": "meta", "dtype": torch.float64}  # shapes only: weights are drawn from our own generator


@dataclass(frozen=True)
class RecurrenceComparison:
    """How far information and gradients travel in a recurrent net vs one attention layer."""

    model_name: str
    labels: tuple[str, ...]  # (pos,) token labels with visible whitespace
    embedding: str  # "model": the loaded model's token embeddings; "random": seeded random vectors
    hidden: int
    rnn_steps: int  # sequential cell updates the RNN needed: one per token
    attention_steps: int  # attention computes every position in one batched step
    rnn_path: int  # operations between the first token and the last output: n - 1 for the RNN
    attention_path: int  # 1 for attention: the last query reads the first key directly
    rnn_gradient: np.ndarray  # (pos,) ‖∂ last output / ∂ token i‖ through nn.RNN (tanh)
    gru_gradient: np.ndarray  # (pos,) the same through nn.GRU
    attention_gradient: np.ndarray  # (pos,) the same through one self-attention layer

    @property
    def distance(self) -> np.ndarray:
        """(pos,) how many tokens before the last one each token sits."""
        n = len(self.labels)
        return np.arange(n - 1, -1, -1)

    def first_to_last_ratio(self, gradient: np.ndarray) -> float:
        """Gradient reaching the first token divided by the gradient reaching the last one."""
        return float(gradient[0] / gradient[-1])

    def table(self) -> pd.DataFrame:
        """One row per measure, one column per network: steps, path length, gradient ratio."""
        ratios = [self.first_to_last_ratio(g) for g in (self.rnn_gradient, self.gru_gradient, self.attention_gradient)]
        return pd.DataFrame(
            {
                "measure": ["sequential steps", "path first → last token", "gradient at first ÷ at last token"],
                "RNN (tanh)": [f"{self.rnn_steps}", f"{self.rnn_path}", f"{ratios[0]:.2e}"],
                "GRU": [f"{self.rnn_steps}", f"{self.rnn_path}", f"{ratios[1]:.2e}"],
                "Self-attention": [f"{self.attention_steps}", f"{self.attention_path}", f"{ratios[2]:.2e}"],
            }
        )


def compare(
    model: LoadedModel, text: str, embedding: str = "model", hidden: int = 32, seed: int = 0
) -> RecurrenceComparison:
    """Run nn.RNN, nn.GRU and self-attention (seeded weights) on the text's tokens and backpropagate."""
    if embedding not in EMBEDDINGS:
        raise ValueError(f"Unknown embedding '{embedding}'. Choose one of: {', '.join(EMBEDDINGS)}.")
    if not HIDDEN_RANGE[0] <= hidden <= HIDDEN_RANGE[1]:
        raise ValueError(f"Hidden size must be between {HIDDEN_RANGE[0]} and {HIDDEN_RANGE[1]}; got {hidden}.")
    tokens = tokenize(model, text, add_special_tokens=False)
    n = len(tokens)
    if n == 0:  # e.g. only characters the tokenizer's normaliser drops
        raise ValueError("The text has no tokens for this model: type a sentence.")
    if n > MAX_RNN_TOKENS:
        raise ValueError(f"Sentence has {n:,} tokens; this comparison is limited to {MAX_RNN_TOKENS} tokens.")
    inputs = _embed(model, tokens.ids, embedding, seed)  # (pos, d_model) float64
    generator = torch.Generator().manual_seed(seed)
    readout = _unit(torch.randn(hidden, generator=generator, dtype=torch.float64))
    rnn_grad, steps = _recurrent_gradient(torch.nn.RNN, inputs, hidden, readout, generator)
    gru_grad, _ = _recurrent_gradient(torch.nn.GRU, inputs, hidden, readout, generator)
    attention_grad = _attention_gradient(inputs, hidden, readout, generator)
    return RecurrenceComparison(
        model_name=model.name, labels=tokens.labels, embedding=embedding, hidden=hidden,
        rnn_steps=steps, attention_steps=1, rnn_path=n - 1, attention_path=min(n - 1, 1),
        rnn_gradient=rnn_grad, gru_gradient=gru_grad, attention_gradient=attention_grad,
    )


def _embed(model: LoadedModel, ids: np.ndarray, embedding: str, seed: int) -> torch.Tensor:
    """(pos, d_model) unit-length input vectors, so every model's embedding scale looks alike."""
    with torch.no_grad():
        if embedding == "model":
            table = model.model.get_input_embeddings()
            vectors = table(torch.from_numpy(ids)).to(torch.float64)
        else:
            # One seeded vector per token id: a repeated token gets the same vector.
            d_model = model.info.d_model
            vectors = torch.stack(
                [torch.randn(d_model, generator=torch.Generator().manual_seed(seed * 1_000_003 + int(i)),
                             dtype=torch.float64) for i in ids]
            )
    return _unit(vectors)


def _unit(vectors: torch.Tensor) -> torch.Tensor:
    return vectors / vectors.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def _seeded(module: torch.nn.Module, generator: torch.Generator, bound: float) -> torch.nn.Module:
    # PyTorch's own init for recurrent layers, U(-1/√hidden, 1/√hidden), drawn from our generator
    # so that no global random state changes (the server is shared by many sessions). The module is
    # built on the meta device, where its constructor's default init draws nothing from torch's
    # global generator; its weights get memory here and every one is filled below.
    module = module.to_empty(device="cpu")
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.empty_like(param).uniform_(-bound, bound, generator=generator))
    return module


def _recurrent_gradient(
    cell: type[torch.nn.RNNBase], inputs: torch.Tensor, hidden: int, readout: torch.Tensor, generator: torch.Generator
) -> tuple[np.ndarray, int]:
    """(pos,) gradient norms from the last hidden state back to each input, and the steps taken."""
    rnn = _seeded(cell(inputs.shape[1], hidden, **_META), generator, 1 / math.sqrt(hidden))
    x = inputs.clone().requires_grad_(True)
    state = torch.zeros(1, 1, hidden, dtype=torch.float64)
    steps = 0
    for position in range(x.shape[0]):  # the recurrence: step t needs the state from step t - 1
        _, state = rnn(x[position].view(1, 1, -1), state)
        steps += 1
    (state.view(-1) @ readout).backward()
    return frozen(x.grad.norm(dim=-1), np.float64), steps


def _attention_gradient(
    inputs: torch.Tensor, hidden: int, readout: torch.Tensor, generator: torch.Generator
) -> np.ndarray:
    """(pos,) gradient norms from the last position's output of one causal self-attention layer."""
    d_model = inputs.shape[1]
    bound = math.sqrt(3 / d_model)
    q, k, v = (_seeded(torch.nn.Linear(d_model, hidden, bias=False, **_META), generator, bound) for _ in range(3))
    x = inputs.clone().requires_grad_(True)
    scores = q(x) @ k(x).T / math.sqrt(hidden)  # (query, key): every pair in one matrix product
    causal = torch.ones_like(scores, dtype=torch.bool).tril()
    weights = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
    output = weights @ v(x)  # (pos, hidden)
    (output[-1] @ readout).backward()
    return frozen(x.grad.norm(dim=-1), np.float64)


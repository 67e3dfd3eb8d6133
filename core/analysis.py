"""One forward pass that returns what the inspection pages show: attention, hidden states, next token."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.models import LoadedModel
from core.runtime import batching
from core.tokens import Tokenization, tokenize

MAX_ANALYZE_TOKENS = 512  # attention is layer × head × pos² floats: 283 MB at 512 tokens for SmolLM2


@dataclass(frozen=True)
class Analysis:
    """Everything one forward pass tells about a text. Arrays are read-only CPU numpy."""

    model_name: str
    tokens: Tokenization
    attention: np.ndarray  # (layer, head, query, key) float32, rows sum to 1
    hidden_states: np.ndarray  # (layer+1, pos, d_model): embedding output, then each layer
    embeddings: np.ndarray  # (pos, d_model) input token embeddings (before any position info)
    next_token_logits: np.ndarray | None  # (vocab,) for decoders, None for encoders

    @property
    def next_token_probs(self) -> np.ndarray | None:
        """Softmax of the last position's logits: the model's next-token distribution."""
        if self.next_token_logits is None:
            return None
        return softmax(self.next_token_logits)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis, in float64."""
    shifted = np.asarray(logits, dtype=np.float64) - np.max(logits, axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


def check_length(model: LoadedModel, n_tokens: int, cap: int | None, what: str = "Prompt") -> None:
    """Raise ValueError naming the limit when a token count exceeds the context window or cap."""
    context = model.info.context_window
    if n_tokens > context:
        raise ValueError(f"{what} has {n_tokens:,} tokens; this model's context window is {context:,}.")
    if cap is not None and n_tokens > cap:
        raise ValueError(
            f"{what} has {n_tokens:,} tokens; this view is limited to {cap:,} tokens "
            f"(the model's context window is {context:,}). Shorten the text."
        )


def analyze(
    model: LoadedModel,
    text: str,
    max_tokens: int | None = MAX_ANALYZE_TOKENS,
    add_special_tokens: bool = True,
) -> Analysis:
    """Run the model once on text, keeping attention, hidden states and next-token logits."""
    tokens = tokenize(model, text, add_special_tokens=add_special_tokens)
    check_length(model, len(tokens), max_tokens)
    forward = batching.BATCHER.forward(model, tokens.ids)  # batched with other sessions' waiting prompts
    return Analysis(
        model_name=model.name,
        tokens=tokens,
        attention=forward.attention,
        hidden_states=forward.hidden_states,
        embeddings=forward.embeddings,
        next_token_logits=forward.next_token_logits,
    )


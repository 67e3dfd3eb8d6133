"""The token a "Why this token?" view explains: the model's top next token, a typed one, or a
token of the model's own greedy answer (then the context is the prompt plus the answer before it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.generation import GenerationSettings, generate
from core.models import LoadedModel
from core.runtime import calls, gate
from core.tokens import token_label
from core.why.interventions import MAX_WHY_TOKENS, prompt_ids

MAX_ANSWER_TOKENS = 12


@dataclass(frozen=True)
class TypedToken:
    """The first token of what the user typed, and how the whole text splits."""

    token_id: int
    label: str
    pieces: tuple[str, ...]  # labels of every token the text splits into

    @property
    def was_split(self) -> bool:
        return len(self.pieces) > 1


def typed_token(model: LoadedModel, text: str) -> TypedToken:
    """The first token of text as it would follow a prompt (no special tokens added)."""
    if not text:
        raise ValueError("Type a token first (include a leading space for a word, e.g. ' Paris').")
    ids = model.tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ValueError(f"{text!r} has no tokens.")
    labels = tuple(token_label(model.tokenizer, int(i)) for i in ids)
    return TypedToken(int(ids[0]), labels[0], labels)


def next_token_logits(model: LoadedModel, ids: Sequence[int]) -> np.ndarray:
    """(vocab,) logits after ids (one forward, inside the gate)."""
    with gate.inference(model):
        return calls.logits(model, [list(ids)])[0, -1]


def answer_ids(model: LoadedModel, text: str, new_tokens: int = 8) -> tuple[int, ...]:
    """Token ids of the model's greedy answer to text (at most MAX_ANSWER_TOKENS)."""
    if not 1 <= new_tokens <= MAX_ANSWER_TOKENS:
        raise ValueError(f"Generate between 1 and {MAX_ANSWER_TOKENS} tokens; got {new_tokens}.")
    prompt_ids(model, text, MAX_WHY_TOKENS - new_tokens)  # prompt plus answer must fit the views' cap
    completion = generate(model, [text], GenerationSettings(max_new_tokens=new_tokens))[0]
    return tuple(int(i) for i in completion.token_ids)

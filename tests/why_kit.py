"""Helpers shared by the "Why this token?" core tests: the default prompt, its ids, plain logits."""

from __future__ import annotations

import torch

from core.why import interventions

PROMPT = "The capital of France is"


def plain_logits(model, ids) -> torch.Tensor:
    """(vocab,) last-position logits from the network called directly (the reference)."""
    with torch.inference_mode():
        return model.model(torch.tensor([list(ids)])).logits[0, -1].float()


def prompt_ids(model, text: str = PROMPT) -> tuple[int, ...]:
    """The prompt's token ids as the views take them."""
    return interventions.prompt_ids(model, text)

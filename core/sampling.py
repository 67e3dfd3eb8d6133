"""Temperature, top-k and top-p applied to logits: the maths shared by generation and its page."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

MIN_TEMPERATURE = 1e-3


@dataclass(frozen=True)
class GenerationSettings:
    """How to pick each next token. Greedy by default, so the same prompt gives the same answer."""

    max_new_tokens: int = 32
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0  # 0 keeps every token
    top_p: float = 1.0  # 1.0 keeps every token
    seed: int = 0
    stop: tuple[str, ...] = ()  # stop when the completion contains one of these

    def normalized(self, vocab_size: int) -> GenerationSettings:
        """Clamp settings into their valid ranges instead of failing on them.

        Temperature 0 means greedy; top-p 0 keeps only the most likely token; top-k past the
        vocabulary keeps everything. A negative or zero token budget is an error.
        """
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}.")
        greedy = not self.do_sample or self.temperature <= 0
        return replace(
            self,
            do_sample=not greedy,
            temperature=max(float(self.temperature), MIN_TEMPERATURE),
            top_k=0 if self.top_k <= 0 or self.top_k >= vocab_size else int(self.top_k),
            top_p=min(max(float(self.top_p), 0.0), 1.0),
        )


def filter_logits(logits: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """Scale by temperature, then set tokens outside top-k and the top-p nucleus to -inf.

    logits: (..., vocab). The most likely token always survives, so the result is a valid
    distribution for any settings.
    """
    scaled = logits.float() / max(temperature, MIN_TEMPERATURE)
    removed = torch.zeros_like(scaled, dtype=torch.bool)
    if 0 < top_k < scaled.shape[-1]:
        kth = torch.topk(scaled, top_k, dim=-1).values[..., -1:]
        removed |= scaled < kth
    if top_p < 1.0:
        order = torch.argsort(scaled, dim=-1, descending=True)
        sorted_probs = torch.softmax(scaled.masked_fill(removed, -torch.inf), dim=-1).gather(-1, order)
        before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs  # mass of strictly better tokens
        drop_sorted = before >= top_p
        drop_sorted[..., 0] = False
        removed |= torch.zeros_like(removed).scatter(-1, order, drop_sorted)
    return scaled.masked_fill(removed, -torch.inf)


def choose_next(
    logits: torch.Tensor, settings: GenerationSettings, generators: list[torch.Generator]
) -> torch.Tensor:
    """Pick one token per row of logits (batch, vocab): argmax, or a seeded sample per row."""
    if not settings.do_sample:
        return torch.argmax(logits, dim=-1)
    filtered = filter_logits(logits, settings.temperature, settings.top_k, settings.top_p)
    probs = torch.softmax(filtered, dim=-1)
    picks = [torch.multinomial(probs[row], 1, generator=gen) for row, gen in enumerate(generators)]
    return torch.cat(picks)

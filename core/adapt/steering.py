"""Activation addition: a steering vector from contrastive prompts, added to the residual stream while generating.

The vector is mean(residual | positive prompts) - mean(residual | negative prompts) entering a chosen
layer, averaged over every position except the first: the first token's residual is an outlier
(the attention sink, many times the norm of the others) that carries no meaning of the prompt and
would swamp the difference. Adding it runs through `core.runtime.hooks.hooks` (site
`blocks.{layer}.hook_resid_pre`), inside the gate, with the hook removed in `finally`: no other
session's forward pass ever sees it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from core.generation import Completion, generate
from core.prompting import label_scoring
from core.runtime import hooks
from core.sampling import GenerationSettings

MAX_CONTRAST_PROMPTS = 16  # per side
MAX_ALPHA = 40.0
MAX_SWEEP = 9  # strengths in one sweep
PRESETS = {
    "Sentiment (positive − negative)": (
        ["I love this, it is wonderful and delightful.", "What a fantastic, joyful day.",
         "This is excellent, I am so happy with it.", "A beautiful, brilliant and uplifting story."],
        ["I hate this, it is awful and miserable.", "What a terrible, depressing day.",
         "This is dreadful, I am so unhappy with it.", "An ugly, stupid and boring story."],
    ),
    "Topic (weddings − neutral)": (
        ["The bride and groom exchanged rings at the wedding.", "The wedding guests danced after the vows.",
         "She wore a white wedding dress to the ceremony.", "They planned the wedding reception for June."],
        ["The report was filed on Tuesday afternoon.", "The bus stopped at the corner of the street.",
         "He read the instructions before starting.", "The meeting was moved to the next room."],
    ),
}
NEUTRAL_PROMPTS = ("I went to the store and", "The weather today is", "My neighbour told me that",
                   "Yesterday the film was")
SENTIMENT_INSTRUCTION = "Classify the sentiment of each text as positive or negative."


@dataclass(frozen=True)
class SteeringVector:
    """A direction in the residual stream entering `layer`, with the sizes that say how strong it is."""

    layer: int
    vector: np.ndarray  # (d_model,)
    norm: float  # ‖vector‖
    residual_norm: float  # mean ‖residual‖ at this layer over the contrast prompts' positions (first excluded)


def steering_vector(model, layer: int, positive: Sequence[str], negative: Sequence[str]) -> SteeringVector:
    """mean residual of the positive prompts minus that of the negative ones, entering `layer`."""
    if not model.info.is_decoder:
        raise ValueError(f"{model.info.name} is an encoder: steering here changes what a decoder writes.")
    if not 0 <= layer < model.info.layers:
        raise ValueError(f"Layer must be between 0 and {model.info.layers - 1}; got {layer}.")
    sides = [[p.strip() for p in side if p.strip()] for side in (positive, negative)]
    if not all(sides) or max(map(len, sides)) > MAX_CONTRAST_PROMPTS:
        raise ValueError(f"Each side needs between 1 and {MAX_CONTRAST_PROMPTS} prompts (one per line).")
    means, norms = [], []
    for side in sides:
        rows = [_residual(model, layer, prompt) for prompt in side]
        means.append(torch.stack([r.mean(0) for r in rows]).mean(0))
        norms += [float(n) for r in rows for n in r.norm(dim=-1)]
    vector = (means[0] - means[1]).numpy()
    return SteeringVector(layer, vector, float(np.linalg.norm(vector)), float(np.mean(norms)))


def _residual(model, layer: int, prompt: str) -> torch.Tensor:
    """(pos - 1, d_model) the residual entering `layer` at every position but the first."""
    ids = model.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if len(ids) < 2:
        raise ValueError(f"The prompt {prompt[:40]!r} needs at least 2 tokens (the first is left out).")
    if len(ids) > 128:
        raise ValueError(f"A contrast prompt has {len(ids)} tokens; the limit is 128.")
    return torch.from_numpy(hooks.residual_stream(model, ids)[layer, 1:]).float()


@contextmanager
def steered(model, steering: SteeringVector, alpha: float) -> Iterator[None]:
    """Hold the gate with alpha × vector added to the residual entering the layer, at every position."""
    if abs(alpha) > MAX_ALPHA:
        raise ValueError(f"Strength α must be between −{MAX_ALPHA:g} and {MAX_ALPHA:g}; got {alpha:g}.")
    added = torch.from_numpy(steering.vector) * float(alpha)

    def add(resid: torch.Tensor, site: str) -> torch.Tensor:
        return resid + added.to(resid.device, resid.dtype)

    with hooks.hooks(model, [(f"blocks.{steering.layer}.hook_resid_pre", add)]):
        yield


def steered_generate(model, prompts: Sequence[str], settings: GenerationSettings, steering: SteeringVector,
                     alpha: float) -> list[Completion]:
    """Completions with the vector added (α = 0 runs the same hook and equals plain generation)."""
    with steered(model, steering, alpha):
        return generate(model, list(prompts), settings)


def alpha_sweep(model, steering: SteeringVector, alphas: Sequence[float], prompts: Sequence[str] = NEUTRAL_PROMPTS,
                new_tokens: int = 12) -> pd.DataFrame:
    """Per α: P(positive) of the steered model, of the text it writes, that text's fluency, and a sample.

    p_positive: with the vector added, the model ranks " positive" / " negative" after a zero-shot
    sentiment prompt of each neutral prompt (mean over prompts): how positive the steered model
    reads them. text_positive: the plain model's P(positive) for prompt + steered greedy completion.
    fluency: the plain model's mean log-probability per token of that completion (it drops where
    steering breaks the language).
    """
    if not 1 <= len(alphas) <= MAX_SWEEP:
        raise ValueError(f"A sweep takes between 1 and {MAX_SWEEP} strengths.")
    settings = GenerationSettings(max_new_tokens=new_tokens, stop=("\n",))
    rows = []
    for alpha in alphas:
        with steered(model, steering, alpha):
            reading = _p_positive(model, prompts)
            completions = generate(model, list(prompts), settings)
        texts = [prompt + c.text for prompt, c in zip(prompts, completions)]
        rows.append({"alpha": float(alpha), "p_positive": reading, "text_positive": _p_positive(model, texts),
                     "fluency": _fluency(model, prompts, [c.text for c in completions]), "sample": texts[0]})
    return pd.DataFrame(rows)


def _p_positive(model, texts: Sequence[str]) -> float:
    suffixes = [f"\n\nText: {text.strip()}\nLabel:" for text in texts]
    scores = label_scoring.score_labels(model, SENTIMENT_INSTRUCTION, suffixes, ["positive", "negative"])
    return float(scores.probabilities()[:, 0].mean())


def _fluency(model, prompts: Sequence[str], completions: Sequence[str]) -> float:
    values = []
    for prompt, completion in zip(prompts, completions):
        if completion.strip():
            scores = label_scoring.score_labels(model, "", [prompt], [completion], delimiter="")
            values.append(float(scores.logprob[0, 0] / max(scores.n_tokens[0, 0], 1)))
    return float(np.mean(values)) if values else float("nan")

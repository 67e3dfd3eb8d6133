"""Numbers and reshapes of attention weights: per-head summaries, renormalising, averaging, rollout."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.analysis import MAX_ANALYZE_TOKENS, Analysis, analyze
from core.export import safe_csv
from core.generation import generate
from core.models import LoadedModel
from core.runtime.arrays import frozen
from core.sampling import GenerationSettings
from core.tokens import Tokenization, tokenize
from core.why.induction import induction_scores

COMBINE_MODES = ("none", "heads", "layers", "rollout")
MAX_ANSWER_TOKENS = 32
SUMMARY_COLUMNS = ("layer", "head", "entropy_bits", "first_token", "previous_token", "mean_distance")


@dataclass(frozen=True)
class AttentionView:
    """Attention as the page shows it, after the hide-first and combine toggles."""

    weights: np.ndarray  # (layer', head', query, key); rows sum to 1 (or 0 for an empty row)
    layer_labels: tuple[str, ...]  # one per layer' row, e.g. "3", "mean", "≤ 3"
    head_labels: tuple[str, ...]  # one per head' column, e.g. "5", "mean"
    first_position: int  # token position of row/column 0 (1 when the first token is hidden)


@dataclass(frozen=True)
class AnsweredAttention:
    """Attention over a prompt plus the model's own answer, from one forward pass on both."""

    analysis: Analysis
    prompt_tokens: int  # positions [0, prompt_tokens) hold the prompt, the rest the answer
    answer: str


def _check(attention: np.ndarray) -> None:
    if attention.ndim != 4 or attention.shape[-1] != attention.shape[-2]:
        raise ValueError(f"Attention must have shape (layer, head, query, key), query == key; got {attention.shape}.")


def head_summary(attention: np.ndarray, token_ids: np.ndarray | None = None) -> pd.DataFrame:
    """One row per (layer, head): mean row entropy in bits, mean weight on the first key,
    mean weight on the previous token and mean distance |query - key| weighted by attention;
    with token_ids, also the induction score on this text (NaN when no token repeats).

    attention: (layer, head, query, key); token_ids: (query,).
    """
    _check(attention)
    layers, heads, n, _ = attention.shape
    distance_matrix = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
    metrics = np.full((4, layers, heads), np.nan)  # entropy, first, previous, distance
    for layer in range(layers):  # one layer at a time: float64 copies of all layers reach gigabytes
        weights = attention[layer].astype(np.float64)  # (head, query, key)
        logs = np.log2(np.where(weights > 0, weights, 1.0))
        metrics[0, layer] = -(weights * logs).sum(-1).mean(-1) + 0.0  # + 0.0 turns -0.0 into 0.0
        metrics[1, layer] = weights[..., 0].mean(-1)
        if n > 1:  # undefined for a single token
            metrics[2, layer] = np.diagonal(weights, offset=-1, axis1=-2, axis2=-1).mean(-1)
        metrics[3, layer] = (weights * distance_matrix).sum(-1).mean(-1)
    entropy, first, previous, distance = metrics
    grid_layer, grid_head = np.meshgrid(np.arange(layers), np.arange(heads), indexing="ij")
    table = pd.DataFrame(
        {
            "layer": grid_layer.ravel(),
            "head": grid_head.ravel(),
            "entropy_bits": entropy.ravel(),
            "first_token": first.ravel(),
            "previous_token": previous.ravel(),
            "mean_distance": distance.ravel(),
        }
    )
    if token_ids is not None:
        table["induction"] = induction_scores(attention, token_ids).ravel()
    return table


def hide_first_token(attention: np.ndarray) -> np.ndarray:
    """Drop the first position as query and key, then renormalise each row to sum to 1.

    attention: (layer, head, query, key) -> (layer, head, query-1, key-1). The first token often
    soaks up most weight (an "attention sink"); hiding it shows how the rest is shared out.
    """
    _check(attention)
    if attention.shape[-1] < 2:
        raise ValueError("Hiding the first token needs at least 2 tokens.")
    rest = attention[:, :, 1:, 1:].astype(np.float32)
    totals = rest.sum(-1, keepdims=True)
    return np.divide(rest, totals, out=np.zeros_like(rest), where=totals > 0)


def attention_rollout(attention: np.ndarray, residual: float = 0.5) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020): how much each token feeds each position
    after every layer, counting the residual stream as identity.

    attention: (layer, head, query, key) -> (layer, query, key); entry l is the product of the
    head-averaged, residual-mixed matrices of layers 0..l, so every row sums to 1.
    """
    _check(attention)
    if not 0.0 <= residual <= 1.0:
        raise ValueError(f"residual must be between 0 and 1; got {residual}.")
    layers, _, n, _ = attention.shape
    mixed = (1 - residual) * attention.mean(1, dtype=np.float64) + residual * np.eye(n)
    mixed /= mixed.sum(-1, keepdims=True)
    rollout = np.empty((layers, n, n), dtype=np.float64)
    current = np.eye(n)
    for layer in range(layers):
        current = mixed[layer] @ current
        rollout[layer] = current
    return rollout.astype(np.float32)


def attention_view(attention: np.ndarray, hide_first: bool = False, combine: str = "none") -> AttentionView:
    """Apply the page toggles: optionally hide the first token, then keep heads as they are,
    average over heads, average over layers, or roll out across layers.

    attention: (layer, head, query, key).
    """
    _check(attention)
    if combine not in COMBINE_MODES:
        raise ValueError(f"Unknown combine mode '{combine}'; choose one of {', '.join(COMBINE_MODES)}.")
    weights = hide_first_token(attention) if hide_first else attention
    layers, heads = weights.shape[:2]
    layer_labels = tuple(str(i) for i in range(layers))
    head_labels = tuple(str(i) for i in range(heads))
    if combine == "heads":
        weights, head_labels = weights.mean(1, keepdims=True), ("mean",)
    elif combine == "layers":
        weights, layer_labels = weights.mean(0, keepdims=True), ("mean",)
    elif combine == "rollout":
        weights, head_labels = attention_rollout(weights)[:, None], ("rollout",)
        layer_labels = tuple(f"0–{i}" for i in range(layers))
    return AttentionView(frozen(weights, np.float32), layer_labels, head_labels, 1 if hide_first else 0)


def top_attended(weights: np.ndarray, labels: tuple[str, ...], queries: range, k: int = 3) -> pd.DataFrame:
    """For each query position, the k keys it weights most.

    weights: (query, key) for one head; labels: one per position.
    """
    rows = []
    for query in queries:
        order = np.argsort(-weights[query], kind="stable")[:k]
        looked = ", ".join(f"{labels[key]} #{key} ({weights[query, key]:.2f})" for key in order)
        rows.append({"position": query, "token": labels[query], "looks most at": looked})
    return pd.DataFrame(rows, columns=["position", "token", "looks most at"])


def analyze_with_answer(
    model: LoadedModel, prompt: str, new_tokens: int = 8, max_tokens: int | None = MAX_ANALYZE_TOKENS
) -> AnsweredAttention:
    """Generate a few tokens greedily, then run one forward pass on prompt plus answer."""
    if not 1 <= new_tokens <= MAX_ANSWER_TOKENS:
        raise ValueError(f"Generate between 1 and {MAX_ANSWER_TOKENS} tokens; got {new_tokens}.")
    prompt_ids = tokenize(model, prompt).ids
    completion = generate(model, [prompt], GenerationSettings(max_new_tokens=new_tokens))[0]
    analysis = analyze(model, prompt + completion.text, max_tokens=max_tokens)
    # Re-tokenising can merge the last prompt token with the first answer token: the prompt
    # is the common prefix of the two id sequences.
    both = analysis.tokens.ids
    shared = min(len(prompt_ids), len(both))
    mismatch = np.flatnonzero(prompt_ids[:shared] != both[:shared])
    prompt_tokens = int(mismatch[0]) if len(mismatch) else shared
    return AnsweredAttention(analysis, prompt_tokens, completion.text)


def prefix_text(tokens: Tokenization, max_tokens: int) -> str:
    """The longest start of the text whose first tokens fit in max_tokens (specials included)."""
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1; got {max_tokens}.")
    if len(tokens) <= max_tokens:
        return tokens.text
    # Leave room for special tokens the tokenizer adds at the end (e.g. BERT's [SEP]).
    trailing = int(np.flatnonzero(~tokens.special)[-1]) if (~tokens.special).any() else len(tokens) - 1
    room = max_tokens - (len(tokens) - 1 - trailing)
    end = int(tokens.spans[: max(room, 1), 1].max())
    return tokens.text[:end] if end > 0 else tokens.text[:1]


def analyze_prefix(model: LoadedModel, text: str, max_tokens: int) -> Analysis:
    """Analyse only the start of text that tokenizes to at most max_tokens (views with a smaller cap)."""
    tokens = tokenize(model, text)
    budget = max_tokens
    while True:
        analysis = analyze(model, prefix_text(tokens, budget), max_tokens=None)
        excess = len(analysis.tokens) - max_tokens
        if excess <= 0 or budget == 1:
            return analysis
        budget = max(1, budget - excess)  # the prefix re-tokenised differently: shrink and retry


def head_csv(weights: np.ndarray, labels: tuple[str, ...]) -> str:
    """One head's weights as CSV: a row per query, a column per key, headed "position: token".

    weights: (query, key).
    """
    names = [f"{i}: {label}" for i, label in enumerate(labels)]
    return safe_csv(pd.DataFrame(weights, index=pd.Index(names, name="query \\ key"), columns=names), index=True)


def attention_npz(analysis: Analysis) -> bytes:
    """All attention weights, token ids and labels as a compressed NumPy .npz file."""
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        attention=analysis.attention,  # (layer, head, query, key)
        token_ids=analysis.tokens.ids,
        token_labels=np.array(analysis.tokens.labels, dtype=str),
    )
    return buffer.getvalue()

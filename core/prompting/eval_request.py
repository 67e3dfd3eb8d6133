"""One evaluation request for both backends (in-process and served): its modes, its runs and the items it scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.prompting import Example, normalize_label
from core.sampling import GenerationSettings

MODES = {"rank": "Rank the labels", "generate": "Generate and match"}
NORMALISATIONS = {"sum": "Sum of the label's log-probs", "token": "Mean log-prob per label token"}
SERVED_APIS = {"plain": "completions", "chat": "chat"}  # prompt format -> the served API that sends it


@dataclass(frozen=True)
class EvalRequest:
    """Everything an evaluation depends on, as plain hashable values (a cache key for the page).

    The served backend sends the plain format through the completions API and the chat format
    through the chat API; it ranks by summed log-probs and ignores the in-process-only options.
    """

    instruction: str
    examples: tuple[Example, ...]
    items: tuple[Example, ...]  # (text, label) pairs to score
    settings: GenerationSettings  # used by "generate" mode
    few_k: int
    ks: tuple[int, ...] = ()
    shuffles: int = 1
    fmt: str = "plain"  # see core.prompting.FORMATS
    seed: int = 0
    mode: str = "rank"  # see MODES
    normalise: str = "sum"  # rank mode, in-process: see NORMALISATIONS
    prefix_cache: bool = True  # in-process: run instruction + shots once per run and share their KV cache
    shot_influence: bool = True  # rank mode, in-process: leave each few-shot shot out in turn


@dataclass(frozen=True)
class Run:
    """One way of prompting: k shots taken from the examples in a given order."""

    k: int
    shuffle: int  # 0 is the table's own order; 1, 2, … are seeded permutations
    shots: tuple[Example, ...]


def served_api(fmt: str) -> str:
    """The served API that sends a prompt format ("plain" → completions, "chat" → chat)."""
    if fmt not in SERVED_APIS:
        raise ValueError(f"Unknown prompt format '{fmt}'; choose one of: {', '.join(SERVED_APIS)}.")
    return SERVED_APIS[fmt]


def plan_runs(
    examples: Sequence[Example], ks: Sequence[int], few_k: int, shuffles: int, seed: int = 0
) -> list[Run]:
    """Runs to score: every k in ks (and 0, 1, few_k) in table order, then in seeded shuffled orders.

    k = 0 has no order to shuffle, so it runs once.
    """
    examples = list(examples)
    wanted = sorted({0, 1, few_k, *ks})
    if wanted[-1] > len(examples) or wanted[0] < 0:
        raise ValueError(f"Shot counts must be between 0 and {len(examples)} (the number of examples).")
    if shuffles < 1:
        raise ValueError(f"Need at least 1 example order, got {shuffles}.")
    orders = [list(range(len(examples)))]
    orders += [list(np.random.default_rng(seed + s).permutation(len(examples))) for s in range(1, shuffles)]
    runs = [Run(0, 0, ())]
    for k in (k for k in wanted if k > 0):
        runs += [Run(k, s, tuple(examples[i] for i in order[:k])) for s, order in enumerate(orders)]
    return runs


def scorable_items(items: pd.DataFrame, examples: Sequence[Example]) -> tuple[pd.DataFrame, int]:
    """Drop labelled items whose text is also a shot (scoring them would test memory, not skill)."""
    shot_texts = {normalize_label(text) for text, _ in examples}
    keep = ~items["text"].map(normalize_label).isin(shot_texts)
    return items[keep].reset_index(drop=True), int((~keep).sum())


def scored_items(request: EvalRequest, examples: Sequence[Example]) -> tuple[pd.DataFrame, int]:
    """(items to score, how many were dropped as shots); ValueError when nothing is left."""
    items = pd.DataFrame(list(request.items), columns=["text", "label"])
    scored, excluded = scorable_items(items, examples)
    if scored.empty:
        raise ValueError("Every labelled item is also a shot: nothing is left to score.")
    return scored, excluded


def request_runs(request: EvalRequest, examples: Sequence[Example]) -> list[Run]:
    """The request's runs (plan_runs with its shot counts, orders and seed)."""
    return plan_runs(examples, request.ks, request.few_k, request.shuffles, request.seed)

"""One evaluation request for both backends (in-process and served): its modes, its runs and the items it scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd

from core import prompting
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


def request_from_experiment(experiment: dict) -> EvalRequest:
    """The request an experiment file describes (as experiment_from_json returns it), as the page would run it.

    An experiment saved without items scores its preset's bundled set; without a mode, rank mode.
    """
    items = experiment.get("items") or []
    if not items:
        preset = experiment.get("preset")
        if preset not in prompting.PRESETS:
            raise ValueError("The experiment has no items and no known preset to take its labelled set from.")
        items = list(prompting.load_eval_set(prompting.PRESETS[preset]).itertuples(index=False, name=None))
    saved = dict(experiment.get("settings") or {})
    known = {f.name for f in fields(GenerationSettings)}
    settings = GenerationSettings(**{k: (tuple(v) if k == "stop" else v) for k, v in saved.items() if k in known})
    mode = experiment.get("mode") or "rank"
    normalise = experiment.get("normalise") or "sum"
    if mode not in MODES or normalise not in NORMALISATIONS:
        raise ValueError(f"The experiment's mode must be one of {', '.join(MODES)} and its normalise one of "
                         f"{', '.join(NORMALISATIONS)}.")
    return EvalRequest(
        experiment["instruction"], tuple(tuple(pair) for pair in experiment["examples"]),
        tuple((str(t), str(label)) for t, label in items), settings, int(experiment["few_k"]),
        tuple(experiment.get("sweep") or ()), int(experiment.get("shuffles") or 1), experiment["format"],
        int(experiment.get("shuffle_seed") or 0), mode=mode, normalise=normalise,
    )


def experiment_record(request: EvalRequest, model: str, preset: str | None, query: str,
                      results: dict | None = None) -> dict:
    """The experiment the page's 'Download experiment' saves (and `llm-lens eval` reads) for a request."""
    return {
        "model": model, "preset": preset, "instruction": request.instruction,
        "examples": [list(pair) for pair in request.examples], "query": query, "format": request.fmt,
        "few_k": request.few_k, "sweep": list(request.ks), "shuffles": request.shuffles,
        "shuffle_seed": request.seed, "mode": request.mode, "normalise": request.normalise,
        "settings": asdict(request.settings), "items": [list(pair) for pair in request.items], "results": results,
    }

"""Score prompt strategies over a labelled set: batched generation, accuracy per k and per shuffle."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.generation import generate
from core.models import LoadedModel
from core.prompting import Example, build_prompt, check_examples, extract_answer, normalize_label
from core.sampling import GenerationSettings

Progress = Callable[[float, str], None]
MAX_PROMPTS = 2_000  # about half an hour of CPU at the measured batched rate; beyond that, sample fewer
STRATEGIES = ("zero-shot", "one-shot", "few-shot")


@dataclass(frozen=True)
class Run:
    """One way of prompting: k shots taken from the examples in a given order."""

    k: int
    shuffle: int  # 0 is the table's own order; 1, 2, … are seeded permutations
    shots: tuple[Example, ...]


@dataclass(frozen=True)
class Evaluation:
    """Every prediction and its summaries. Items used as shots are never among the scored rows."""

    predictions: pd.DataFrame  # one row per (item, k, shuffle): item, k, shuffle, answer, label, correct
    strategies: pd.DataFrame  # strategy, k, correct, scored, accuracy (table order of the examples)
    curve: pd.DataFrame  # k, mean, std, min, max, runs: accuracy against the number of shots
    items: pd.DataFrame  # text, label, then each strategy's answer and whether it is correct
    excluded: int  # labelled items dropped because they are also shots


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


def evaluate(
    model: LoadedModel,
    instruction: str,
    examples: Sequence[Example],
    items: pd.DataFrame,
    settings: GenerationSettings,
    few_k: int,
    ks: Sequence[int] = (),
    shuffles: int = 1,
    fmt: str = "plain",
    seed: int = 0,
    batch_size: int = 12,
    progress: Progress | None = None,
) -> Evaluation:
    """Generate an answer for every (item, run) in batches and score them against the labels."""
    examples = check_examples(examples)
    scored, excluded = scorable_items(items, examples)
    if scored.empty:
        raise ValueError("Every labelled item is also a shot: nothing is left to score.")
    runs = plan_runs(examples, ks, few_k, shuffles, seed)
    jobs = [(r, i, build_prompt(instruction, run.shots, text, fmt, model.tokenizer))
            for r, run in enumerate(runs) for i, text in enumerate(scored["text"])]
    unique = sorted({prompt for _, _, prompt in jobs}, key=len)  # similar lengths share a batch: less padding
    if len(unique) > MAX_PROMPTS:
        raise ValueError(f"This evaluation needs {len(unique):,} prompts; the limit is {MAX_PROMPTS:,}. "
                         "Use fewer items, shot counts or shuffles.")
    answers = _generate_all(model, unique, settings, batch_size, progress or (lambda f, m: None))
    rows = [(i, runs[r].k, runs[r].shuffle, answers[prompt], scored["label"][i]) for r, i, prompt in jobs]
    predictions = pd.DataFrame(rows, columns=["item", "k", "shuffle", "answer", "label"])
    predictions["correct"] = predictions["answer"].map(normalize_label) == predictions["label"].map(normalize_label)
    return score(predictions, scored, few_k, excluded)


def _generate_all(
    model: LoadedModel, prompts: list[str], settings: GenerationSettings, batch_size: int, progress: Progress
) -> dict[str, str]:
    answers: dict[str, str] = {}
    for start in range(0, len(prompts), batch_size):
        progress(start / len(prompts), f"Prompts {start + 1:,}–{min(start + batch_size, len(prompts)):,} "
                                       f"of {len(prompts):,}")
        batch = prompts[start : start + batch_size]
        for prompt, completion in zip(batch, generate(model, batch, settings)):
            answers[prompt] = extract_answer(completion.text)
    progress(1.0, f"Scored {len(prompts):,} prompts")
    return answers


def score(predictions: pd.DataFrame, items: pd.DataFrame, few_k: int, excluded: int = 0) -> Evaluation:
    """Summaries of a prediction table (columns item, k, shuffle, answer, label, correct)."""
    per_run = predictions.groupby(["k", "shuffle"])["correct"].mean().rename("accuracy").reset_index()
    curve = per_run.groupby("k")["accuracy"].agg(["mean", "std", "min", "max", "count"]).reset_index()
    curve = curve.rename(columns={"count": "runs"})
    curve["std"] = curve["std"].fillna(0.0)  # one run (k = 0) has no spread
    table_order = predictions[predictions["shuffle"] == 0]
    summary, columns = [], {"text": items["text"], "label": items["label"]}
    for name, k in zip(STRATEGIES, (0, 1, few_k)):
        rows = table_order[table_order["k"] == k].set_index("item").reindex(items.index)
        label = f"{name} (k={k})" if name == "few-shot" else name
        summary.append((label, k, int(rows["correct"].sum()), len(rows), float(rows["correct"].mean())))
        columns[label] = rows["answer"]
        columns[f"{label} ✓"] = rows["correct"].astype(bool)
    strategies = pd.DataFrame(summary, columns=["strategy", "k", "correct", "scored", "accuracy"])
    return Evaluation(predictions, strategies, curve, pd.DataFrame(columns), excluded)

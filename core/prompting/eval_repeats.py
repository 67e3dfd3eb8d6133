"""Repeats of a sampled generate-and-match evaluation: seeds seed…seed+n−1, per-item agreement, accuracy's spread."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from core.prompting.eval_report import Evaluation

MAX_REPEATS = 20


@dataclass(frozen=True)
class Repeats:
    """n evaluations of one request that differ only in the sampling seed."""

    seeds: tuple[int, ...]
    evaluations: tuple[Evaluation, ...]
    spread: pd.DataFrame  # strategy, mean, std, min, max: accuracy over the repeats
    agreement: pd.DataFrame  # item, text, label, strategy, modal answer, agreement (share of repeats giving it)

    def unstable(self, below: float = 1.0) -> pd.DataFrame:
        """Items whose answer changed between repeats (agreement below `below`), least stable first."""
        rows = self.agreement[self.agreement["agreement"] < below]
        return rows.sort_values(["agreement", "strategy", "item"]).reset_index(drop=True)


def check_repeats(request, repeats: int) -> None:
    """ValueError unless repeats make sense: generate mode, sampling on, 1 ≤ n ≤ MAX_REPEATS."""
    if not 1 <= repeats <= MAX_REPEATS:
        raise ValueError(f"Repeats must be between 1 and {MAX_REPEATS}; got {repeats}.")
    if repeats > 1 and (request.mode != "generate" or not request.settings.do_sample):
        raise ValueError("Repeats only change anything when generating with sampling on: greedy answers and "
                         "label ranks are the same every time.")


def run_repeats(evaluate: Callable, request, repeats: int) -> Repeats:
    """evaluate(request with seed s) for s in seed…seed+repeats−1 (the page's or CLI's engine, passed in)."""
    check_repeats(request, repeats)
    base = request.settings.seed
    seeds = tuple(range(base, base + repeats))
    evaluations = []
    for seed in seeds:
        settings = dataclasses.replace(request.settings, seed=seed)
        result = evaluate(dataclasses.replace(request, settings=settings))
        evaluations.append(result)
        if result.partial:
            break  # stopped: keep the repeats that finished
    return summarise_repeats(seeds[: len(evaluations)], evaluations)


def summarise_repeats(seeds: Sequence[int], evaluations: Sequence[Evaluation]) -> Repeats:
    """Accuracy's spread per strategy and each item's agreement across the repeats."""
    accuracies = pd.concat([e.strategies[["strategy", "accuracy"]] for e in evaluations], ignore_index=True)
    spread = accuracies.groupby("strategy", sort=False)["accuracy"].agg(["mean", "std", "min", "max"]).reset_index()
    spread["std"] = spread["std"].fillna(0.0)
    strategies = list(evaluations[0].strategies["strategy"])
    rows = []
    for strategy in strategies:
        answers = pd.concat([e.items[strategy].rename(i) for i, e in enumerate(evaluations) if strategy in e.items],
                            axis=1)
        for item, answer_row in answers.iterrows():
            counts = answer_row.dropna().map(str).value_counts()
            rows.append({"item": int(item), "text": evaluations[0].items["text"][item],
                         "label": evaluations[0].items["label"][item], "strategy": strategy,
                         "modal answer": counts.index[0], "agreement": counts.iloc[0] / counts.sum(),
                         "answers": " · ".join(f"{a} ×{c}" for a, c in counts.items())})
    return Repeats(tuple(seeds), tuple(evaluations), spread, pd.DataFrame(rows))

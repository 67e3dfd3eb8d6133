"""Uncertainty for prompt comparisons: Wilson and bootstrap intervals, paired tests, items needed.

Every method a maintained library implements is called, not re-derived: the Wilson interval and the
exact McNemar test come from `scipy.stats.binomtest` (McNemar's exact test is the two-sided binomial
test on the items where exactly one strategy is right), the bootstrap intervals from
`scipy.stats.bootstrap` (seeded, percentile, resampling items), the normal quantiles from
`scipy.stats.norm`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 2000  # bootstrap resamples: the interval's ends move by well under a point between seeds


@dataclass(frozen=True)
class Interval:
    """A point estimate and its confidence interval."""

    value: float
    low: float
    high: float
    confidence: float = CONFIDENCE

    def as_points(self) -> str:
        """'73 (95% CI 55–86)' in percentage points."""
        return f"{100 * self.value:.0f} ({100 * self.confidence:.0f}% CI {100 * self.low:.0f}–{100 * self.high:.0f})"


def wilson(successes: int, n: int, confidence: float = CONFIDENCE) -> Interval:
    """Accuracy k/n with its Wilson score interval (no continuity correction)."""
    if n <= 0:
        raise ValueError("An interval needs at least one scored item.")
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return Interval(successes / n, float(ci.low), float(ci.high), confidence)


def bootstrap(statistic: Callable[..., float], columns: Sequence[np.ndarray], seed: int = 0,
              confidence: float = CONFIDENCE, resamples: int = RESAMPLES) -> Interval:
    """statistic(*columns) with a seeded percentile bootstrap interval over items (rows resampled together)."""
    columns = [np.asarray(column) for column in columns]
    value = float(statistic(*columns))
    if len(columns[0]) < 2:
        return Interval(value, value, value, confidence)
    result = stats.bootstrap(columns, statistic, paired=True, vectorized=False, n_resamples=resamples,
                             confidence_level=confidence, method="percentile", random_state=np.random.default_rng(seed))
    low, high = result.confidence_interval
    low, high = (value, value) if math.isnan(low) else (float(low), float(high))  # every resample alike
    return Interval(value, min(low, value), max(high, value), confidence)


@dataclass(frozen=True)
class PairedComparison:
    """Strategy A against strategy B on the same items."""

    name_a: str
    name_b: str
    n: int
    only_a: int  # items A got right and B wrong
    only_b: int  # items B got right and A wrong
    difference: Interval  # accuracy(A) − accuracy(B), exact conditional interval (see paired_difference)
    p_value: float  # exact McNemar (two-sided)
    items_for_10_points: int  # items needed to detect a 10-point difference (80% power, 5% level)

    @property
    def significant(self) -> bool:
        """Whether the difference is unlikely by chance at the 5% level."""
        return self.p_value < 0.05

    def sentence(self) -> str:
        """The comparison in one sentence a student understands."""
        points = abs(100 * self.difference.value)
        low, high = sorted((100 * self.difference.low, 100 * self.difference.high))
        if self.significant:
            better, worse = (self.name_a, self.name_b) if self.difference.value > 0 else (self.name_b, self.name_a)
            return (f"{better} beats {worse} by {points:.0f} points (95% CI {low:.0f} to {high:.0f}); "
                    f"a difference this large is very unlikely by chance (exact McNemar p = {self.p_value:.3g}).")
        return (f"{self.name_a} vs {self.name_b}: {100 * self.difference.value:+.0f} points (95% CI {low:.0f} to "
                f"{high:.0f}), not distinguishable from chance on {self.n} items (p = {self.p_value:.2g}); about "
                f"{self.items_for_10_points} items would be needed to detect a 10-point difference.")


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (1.0 when they never disagree)."""
    discordant = only_a + only_b
    if discordant == 0:
        return 1.0
    return float(stats.binomtest(only_a, discordant, 0.5).pvalue)


def items_needed(discordant_share: float, difference: float = 0.10, alpha: float = 0.05, power: float = 0.80) -> int:
    """Items a paired (McNemar) comparison needs to detect `difference` (Connor 1987's formula).

    discordant_share is the share of items where the two strategies disagree; it is at least the
    difference itself (and is taken as at least 1.5× it, so a run where they never disagree still
    gets a finite answer).
    """
    psi = max(discordant_share, 1.5 * difference)
    z_alpha, z_beta = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    n = (z_alpha * math.sqrt(psi) + z_beta * math.sqrt(psi - difference**2)) ** 2 / difference**2
    return math.ceil(n)


def paired_difference(only_a: int, only_b: int, n: int, confidence: float = CONFIDENCE) -> Interval:
    """accuracy(A) − accuracy(B) with the interval that agrees with the exact McNemar test.

    Given the d items where the strategies disagree, A wins each with probability π and the
    difference is (2π − 1)·d/n; the Clopper-Pearson interval of π (scipy's exact binomial interval,
    which inverts the same binomial as the test) maps onto it. It excludes 0 exactly when the
    two-sided exact test rejects at 1 − confidence, so the sentence never contradicts itself.
    """
    discordant = only_a + only_b
    value = (only_a - only_b) / n
    if discordant == 0:
        return Interval(0.0, 0.0, 0.0, confidence)
    ci = stats.binomtest(only_a, discordant, 0.5).proportion_ci(confidence_level=confidence, method="exact")
    share = discordant / n
    return Interval(value, (2 * ci.low - 1) * share, (2 * ci.high - 1) * share, confidence)


def compare(name_a: str, correct_a: Sequence[bool], name_b: str, correct_b: Sequence[bool],
            seed: int = 0) -> PairedComparison:  # seed: kept for callers; the interval is exact now
    """Paired comparison of two strategies' per-item correctness on the same items (same order)."""
    a, b = np.asarray(correct_a, dtype=float), np.asarray(correct_b, dtype=float)
    if len(a) != len(b) or len(a) == 0:
        raise ValueError(f"A paired comparison needs the same items on both sides; got {len(a)} and {len(b)}.")
    only_a, only_b = int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum())
    difference = paired_difference(only_a, only_b, len(a))
    needed = items_needed((only_a + only_b) / len(a))
    return PairedComparison(name_a, name_b, len(a), only_a, only_b, difference, mcnemar_exact(only_a, only_b),
                            needed)

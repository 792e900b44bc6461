"""Intervals that mean what they say: cross-fitted decoder-side bounds, and differences between models.

Why: a Q bound's per-pair standard error sees only the spread of log Q over one set of held-out
pairs. It misses the randomness of fitting Q (initial weights, minibatch order, which pairs it was
fitted on), which dominates when Q is almost always right: the per-pair terms are then mostly ≈ 0
with rare large misses, and two fits of Q disagree by more than either one's stderr claims.

Cross-fitting: the pairs are split into F folds, grouped by source image (pairs whose codes were
drawn from the same image's posterior share a fold; prior codes are split at random), so folds are
independent draws. For each fold a fresh Q is fitted on the other folds (early-stopped on a slice of
them) and scores that fold. Every pair is held out exactly once, so the bound is the mean over all
pairs: an unbiased estimate of the mean held-out bound of this fitting procedure. Each fold's value
carries the variance of fitting its Q and of drawing its pairs, so the spread of the F fold values
(F − 1 degrees of freedom) is the honest error of their mean; heavy-tailed terms enter through fold
means, untouched (no clipping). The standard error is the larger of that between-fold error and the
pooled within-fold one (which, with its many degrees of freedom, guards against F folds agreeing by
chance), and the 95% interval uses Student's t with F − 1 degrees of freedom when the between-fold
part is the larger. Rows carry `stderr` = half-width / 1.96, so value ± 1.96·stderr is that interval.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from scipy.stats import norm
from scipy.stats import t as student_t

LEVEL = 0.95
Z95 = float(norm.ppf(0.5 + LEVEL / 2))


def quantile(df: float, level: float = LEVEL) -> float:
    """Two-sided critical value: Student's t with `df` degrees of freedom, normal when df is infinite."""
    p = 0.5 + level / 2
    return float(norm.ppf(p)) if math.isinf(df) else float(student_t.ppf(p, df))


@dataclass(frozen=True)
class Interval:
    """A value, the estimated SD of that value (`stderr`) and the degrees of freedom of that estimate;
    the interval is value ± quantile(df)·stderr."""

    value: float
    stderr: float
    df: float = math.inf
    level: float = LEVEL

    @property
    def half_width(self) -> float:
        return quantile(self.df, self.level) * self.stderr

    @property
    def low(self) -> float:
        return self.value - self.half_width

    @property
    def high(self) -> float:
        return self.value + self.half_width

    @property
    def reported_stderr(self) -> float:
        """The stderr to put in a row, so that value ± 1.96·stderr is this interval."""
        return self.half_width / Z95 if self.level == LEVEL else self.stderr

    def covers(self, x: float) -> bool:
        return self.low <= x <= self.high


def fold_interval(fold_values: Sequence[float], value: float, within_stderr: float) -> Interval:
    """Interval for `value` (the pooled estimate) from F cross-fitted fold values and the pooled
    within-fold stderr: stderr = max(SD(fold values)/√F, within_stderr); t with F − 1 df when the
    between-fold part wins."""
    f = len(fold_values)
    between = statistics.stdev(fold_values) / math.sqrt(f) if f > 1 else math.nan
    within = within_stderr if math.isfinite(within_stderr) else 0.0
    if math.isfinite(between) and between >= within:
        return Interval(value, between, float(f - 1))
    return Interval(value, within if within > 0 or not math.isfinite(between) else between)


class HasValue(Protocol):
    value: float
    stderr: float


@dataclass(frozen=True)
class Difference:
    """b − a with its interval; `within_noise` is True when the interval contains 0, False when it
    excludes 0, None when either side has no stderr (nothing to judge the difference by)."""

    value: float
    stderr: float
    df: float
    low: float
    high: float
    within_noise: bool | None


def difference_interval(a: HasValue, b: HasValue, level: float = LEVEL) -> Difference:
    """The difference b − a of two independently estimated numbers (Estimate rows or Intervals).

    stderr = √(se_a² + se_b²); degrees of freedom by Welch–Satterthwaite from each side's `df`
    (infinite when a side has none, e.g. an Estimate row, whose stderr already spans its 95%
    interval as ±1.96·stderr). Two models scored on the same images are treated as independent:
    their Q fits are, and a shared dataset only makes the true difference's error smaller.
    """
    se_a, se_b = float(a.stderr), float(b.stderr)
    value = float(b.value) - float(a.value)
    if not (math.isfinite(se_a) and math.isfinite(se_b) and math.isfinite(value)):
        return Difference(value, math.nan, math.nan, math.nan, math.nan, None)
    se = math.hypot(se_a, se_b)
    df_a, df_b = float(getattr(a, "df", math.inf)), float(getattr(b, "df", math.inf))
    parts = [s**4 / d for s, d in ((se_a, df_a), (se_b, df_b)) if s > 0 and math.isfinite(d)]
    df = se**4 / sum(parts) if parts and se > 0 else math.inf
    half = quantile(df, level) * se
    within = (value - half <= 0.0 <= value + half) if se > 0 else value == 0.0
    return Difference(value, se, df, value - half, value + half, within)

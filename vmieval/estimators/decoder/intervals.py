"""Intervals that mean what they say: cross-fitted decoder-side bounds, and differences between models.

`crossfit_interval`: the variance of a cross-fitted mean given the images, the sum of drawing the
pairs (within-image spread over S terms [S], clustered by source image) and fitting Q (the spread of
the F fold Qs' scores on the same fresh pairs, /F); a Student-t interval with Welch–Satterthwaite
degrees of freedom, reported as stderr = half-width / 1.96. `difference_interval`: b − a of two
independent estimates. The derivation is in docs/estimators.md ("Intervals").
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.special import ndtri, stdtrit  # the quantiles scipy.stats' norm and t call, without its import cost

LEVEL = 0.95
Z95 = float(ndtri(0.5 + LEVEL / 2))
# Below this many degrees of freedom in its pair part, a cross-fitted interval rests on a few large per-pair terms
# (rare misses, about df/2 of them): the mean and its stderr then move together, and value ± t·stderr covers less
# than 95% however t is chosen (docs/trust.md). Such a row is flagged; more pairs (`--samples`) raise that df. (Few
# degrees of freedom in the fitting part, F − 1 of them, are another matter: the t quantile covers those.)
FEW_TERMS_DF = 20.0
FEW_TERMS = "few_terms"
FEW_TERMS_NOTE = (
    "its interval rests on few large per-pair terms (df {df:.0f}) and may cover less than 95%; more --samples help"
)


def quantile(df: float, level: float = LEVEL) -> float:
    """Two-sided critical value: Student's t with `df` degrees of freedom, normal when df is infinite."""
    p = 0.5 + level / 2
    return float(ndtri(p)) if math.isinf(df) else float(stdtrit(df, p))


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


@dataclass(frozen=True)
class CrossFitInterval(Interval):
    """An Interval with the variance parts of `crossfit_interval` (variances of the mean): `pairs`,
    of drawing the pairs given the images; `q_fit`, of fitting the F Qs; stderr² = pairs + q_fit.
    `images` (U, the pair variance had the images too been drawn afresh) and `folds` (SD²(fold
    values)/F) are kept for comparison; `pairs_df` is the degrees of freedom of `pairs` alone."""

    pairs: float = math.nan
    q_fit: float = math.nan
    images: float = math.nan
    folds: float = math.nan
    pairs_df: float = math.inf

    @property
    def few_terms(self) -> bool:
        """True when the pair part rests on a few large terms (`FEW_TERMS_DF`)."""
        return self.pairs_df < FEW_TERMS_DF


def _cluster_ids(owner: np.ndarray) -> np.ndarray:
    """Cluster index [S] per term: its source image, or a cluster of its own where it has none (−1)."""
    own = np.where(owner < 0, owner.max(initial=0) + 1 + np.arange(owner.shape[0]), owner)
    return np.unique(own, return_inverse=True)[1]


def _sum_variance(contributions: np.ndarray) -> float:
    """Estimated variance of the sum of independent per-cluster contributions [G]."""
    g = contributions.shape[0]
    return g * float(contributions.var(ddof=1)) if g > 1 else math.inf


def pair_variance(terms: np.ndarray, owner: np.ndarray, n_images: int | None) -> tuple[float, float, float]:
    """(pairs, images, noise): the variance of the mean of `terms` from drawing the pairs given the
    images, the same had the images been drawn afresh (U, cluster-robust), and the estimated
    variance of `pairs` itself (for its degrees of freedom)."""
    psi = np.asarray(terms, dtype=np.float64)
    s = psi.shape[0]
    cluster = _cluster_ids(np.asarray(owner))
    size = np.bincount(cluster).astype(np.float64)
    g = size.shape[0]
    if g < 2:
        return math.nan, math.nan, math.inf
    image_part = np.bincount(cluster, weights=psi - psi.mean()) ** 2 * (g / (g - 1) / s**2)  # sums to U
    image_mean = np.bincount(cluster, weights=psi) / size
    within_ss = np.bincount(cluster, weights=(psi - image_mean[cluster]) ** 2)
    repeats = float((size - 1).sum())
    if repeats == 0:  # one pair per image (or per draw): the images' spread cannot be told from the pairs'
        return float(image_part.sum()), float(image_part.sum()), _sum_variance(image_part)
    pair_part = within_ss / (repeats * s)
    sigma2_w = float(within_ss.sum()) / repeats
    extra = s % n_images if n_images else 0  # stratified: these images were used once more, at random
    between = max(0.0, float(image_mean.var(ddof=1)) - sigma2_w * float((1 / size).mean()))
    selection = extra * (1 - extra / n_images) * between / s**2 if n_images else 0.0
    return float(pair_part.sum()) + selection, float(image_part.sum()), _sum_variance(pair_part)


def crossfit_interval(
    value: float,
    terms: np.ndarray,
    owner: np.ndarray,
    q_values: Sequence[float],
    fold_values: Sequence[float],
    n_images: int | None = None,
    floor: float = 0.0,
) -> CrossFitInterval:
    """Interval for the cross-fitted `value` (see the module docstring).

    terms [S]: the per-pair terms whose mean is the value (or its linearisation: only deviations
    count); owner [S]: source image per term, −1 for none; q_values [F]: each fold's Q scored on the
    same fresh pairs (only their spread counts; NaN when there are none: the excess of the
    between-fold variance over U stands in); fold_values [F]: each fold's value; n_images: the N
    images stratified codes were drawn from; floor: the least stderr (e.g. half a count).
    """
    pairs, images, pairs_noise = pair_variance(terms, owner, n_images)
    f = len(fold_values)
    folds = statistics.variance(fold_values) / f if f > 1 else math.nan
    if len(q_values) > 1 and all(math.isfinite(v) for v in q_values):
        q_fit, q_noise = statistics.variance(q_values) / len(q_values), 2 / (len(q_values) - 1)
    else:
        q_fit, q_noise = max(0.0, folds - images), 2 / (f - 1) if f > 1 else math.inf
    variance = pairs + q_fit
    noise = q_fit**2 * q_noise / 2 + pairs_noise / 2  # Welch–Satterthwaite: Σ part² / df_part
    df = variance**2 / noise if noise > 0 and math.isfinite(noise) else math.inf
    pairs_df = 2 * pairs**2 / pairs_noise if pairs_noise > 0 and math.isfinite(pairs_noise) else math.inf
    stderr = max(math.sqrt(variance), floor) if math.isfinite(variance) else math.nan
    return CrossFitInterval(value, stderr, df, pairs=pairs, q_fit=q_fit, images=images, folds=folds, pairs_df=pairs_df)


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

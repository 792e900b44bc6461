"""Ground-truth factors: I_q(z_j; v_k) for every Gaussian latent dimension and factor, and MIG.

Estimand (encoder side): I_q(z_j; v_k) = E[log q̄_{v_k}(z_j) − log q̄(z_j)] over the N given images with
integer factor classes v [N, F], z_j ~ q(z_j|x), q̄ the dim's aggregate posterior and q̄_v the mixture over
the images of class v; a Monte-Carlo estimate, one code per image, stderr std(term)/√N; a permutation
null gives chance level. MIG (Chen et al. 2018, β-TCVAE) and disentanglement_lib's binned discrete MIG
beside it. Above N = M·(1 + 2F) images every mixture comes from M systematic references per code, own term
exact (`factor_sampling`, O(D·N·M)). Derivation, cost and chance level: docs/estimators.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from vmieval.distributions import GaussianPosterior
from vmieval.errors import UsageError
from vmieval.estimators.aggregate import log_q_matrix
from vmieval.estimators.encoder import CAP_MARGIN, sample_codes
from vmieval.estimators.estimate import mean_and_stderr
from vmieval.estimators.factor_sampling import sampled_factor_terms

if TYPE_CHECKING:
    from vmieval.encoded import EncodedSplit

MONTE_CARLO = "Monte Carlo: full-dataset mixtures q(z_j) and q(z_j|v_k) (one code per image)"
MONTE_CARLO_SAMPLED = (
    "Monte Carlo: mixtures q(z_j) and q(z_j|v_k) from {m} systematic references per code, own term exact "
    "(one code per image; chance level on {null} images)"
)
NULL_CODES = 10_000  # images whose terms give the chance level when the mixtures are subsampled
MIG_MC = "MIG (Chen et al. 2018): Monte-Carlo I_q(z_j; v_k), gap / H(v_k); stderr: delta method, top two fixed"
MIG_HISTOGRAM = "MIG (disentanglement_lib): {bins}-bin histogram of posterior means, sklearn mutual_info_score"


@dataclass(frozen=True)
class FactorConfig:
    """`chunk`: codes per block of the [chunk, N] density matrix; `bins`: histogram bins of the
    disentanglement_lib MIG; `bootstrap`: its resamples for the stderr (0: no stderr), `seed` theirs
    (and the references'); `references`: M, the mixtures' systematic references per code above
    N = M · (1 + 2F) images (0: always the exact O(N²) sums); `null_codes`: images of the chance level then.
    100 resamples put the bootstrap stderr's own relative noise near 1/√(2 · 99) = 7% (10 gave 24%)."""

    chunk: int = 1024
    bins: int = 20
    bootstrap: int = 100
    seed: int = 0
    references: int = 256
    null_codes: int = NULL_CODES


@dataclass(frozen=True)
class MIGScore:
    """A MIG value in [0, 1] (up to estimation noise) with its per-factor gaps [F] (NaN for a
    skipped factor) and, per factor, the indices of the two most informative latents [F, 2]."""

    value: float
    stderr: float
    gaps: np.ndarray
    gap_stderr: np.ndarray
    top_two: np.ndarray
    skipped: tuple[str, ...]
    estimator: str


@dataclass(frozen=True)
class FactorMI:
    """The [D, F] matrix I_q(z_j; v_k) in nats with its stderr, beside H(v_k) [F] (plug-in, exact on
    this dataset) and I_q(x; z_j) [D] from the same draws; `near_cap` names saturated dims (their
    row reads about H(v_k) for every factor); `null_values` [D, F] is each cell's chance level. A
    matrix, not `Estimate` rows: one estimator and one N for all of it, cells indexed by (latent, factor)."""

    latent_names: tuple[str, ...]
    factor_names: tuple[str, ...]
    values: np.ndarray
    stderr: np.ndarray
    factor_entropy: np.ndarray
    latent_info: np.ndarray
    latent_info_stderr: np.ndarray
    near_cap: tuple[str, ...]
    n: int
    split: str
    null_values: np.ndarray
    estimator: str = MONTE_CARLO


@dataclass(frozen=True)
class FactorReport:
    """Everything the factors give: the Monte-Carlo matrix and its MIG, and the histogram MIG with
    its own [D, F] matrix (nats, plug-in on discretised means)."""

    mi: FactorMI
    mig: MIGScore
    histogram_mi: np.ndarray
    histogram_mig: MIGScore


def check_factors(factors: np.ndarray | torch.Tensor, n: int, names: tuple[str, ...] | None = None) -> np.ndarray:
    """Factors as int64 [N, F] with names checked, or a one-line UsageError. Floats are accepted when
    they hold whole numbers (the data sources carry factors as float64); continuous values are not."""
    v = np.asarray(factors.cpu() if isinstance(factors, torch.Tensor) else factors)
    if v.ndim != 2 or v.shape[0] != n:
        raise UsageError(f"factors must be an [N, F] array with N = {n} rows, got shape {v.shape}")
    whole = v.dtype.kind in "iub" or (v.dtype.kind == "f" and bool(np.all(np.isfinite(v) & (v == np.round(v)))))
    if not whole:
        raise UsageError(f"factors must be whole class numbers (e.g. dSprites latents_classes), got {v.dtype} values")
    if names is not None and len(names) != v.shape[1]:
        raise UsageError(f"{len(names)} factor names for {v.shape[1]} factors")
    return v.astype(np.int64)


def factor_entropies(factors: np.ndarray) -> np.ndarray:
    """Plug-in H(v_k) in nats for each column of [N, F] integer classes: [F]."""
    from scipy.stats import entropy as scipy_entropy  # scipy.stats and sklearn load only where factors are scored

    return np.array([scipy_entropy(np.unique(col, return_counts=True)[1]) for col in factors.T], dtype=np.float64)


def _class_index(factors: np.ndarray) -> tuple[torch.Tensor, list[int], torch.Tensor]:
    """Each image's class index per factor [N, F] (0..K_k−1), the class counts K_k, and log(N / N_v)
    for the image's own class per factor [N, F]."""
    n = factors.shape[0]
    index, sizes, log_ratio = [], [], []
    for col in factors.T:
        _, inverse, counts = np.unique(col, return_inverse=True, return_counts=True)
        index.append(inverse.reshape(-1))
        sizes.append(len(counts))
        log_ratio.append(np.log(n / counts[inverse.reshape(-1)]))
    return torch.from_numpy(np.stack(index, 1)), sizes, torch.from_numpy(np.stack(log_ratio, 1))


def _log_own_class(
    m: torch.Tensor, e: torch.Tensor, index: torch.Tensor, sizes: list[int], rows: slice
) -> torch.Tensor:
    """log Σ_{m in class v_k(i)} exp(M[i, m] − a_i) for codes i in `rows`: [c, F].

    `e` = exp(M − a) [c, N] with a the row max of M [c, N]. The own term m = i is in the sum and is
    at least exp(log q(t_i|x_i) − a_i), which underflows only when a_i − log q(t_i|x_i) > 700 nats
    (log-variances 1400 apart, or a 37-sigma draw); such cells are recomputed exactly from M.
    """
    own = index[rows]
    sums = [e.new_zeros(e.shape[0], k).index_add_(1, index[:, f], e) for f, k in enumerate(sizes)]
    out = torch.log(torch.stack([s.gather(1, own[:, f : f + 1])[:, 0] for f, s in enumerate(sums)], dim=1))
    a = m.max(1).values
    for r, f in (out == -math.inf).nonzero().tolist():
        out[r, f] = torch.logsumexp(m[r, index[:, f] == own[r, f]], 0) - a[r]
    return out


def factor_terms(
    mean: torch.Tensor,
    logvar: torch.Tensor,
    factors: np.ndarray,
    generator: torch.Generator,
    chunk: int = 1024,
    null_seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-image Monte-Carlo terms (float64): of I_q(z_j; v_k) [N, D, F], of I_q(x; z_j) [N, D], and
    of the chance level [N, D, F] (factor rows permuted among images by `null_seed`).

    `mean`, `logvar` [N, D]; `factors` int [N, F]. One code per image and dim, drawn in dim order
    from `generator`. Per dim, the density matrix M[i, m] = log q(t_i | x_m) (`aggregate.log_q_matrix`,
    [chunk, N] at a time) is exponentiated once; its row sums give q̄(t_i) and its sums over each
    factor class give every q̄_v(t_i), so the cost is O(D · N²) whatever the number of factors.
    """
    mean, logvar = mean.double().cpu(), logvar.double().cpu()
    n, d = mean.shape
    index, sizes, log_ratio = _class_index(factors)
    perm = torch.from_numpy(np.random.default_rng(null_seed).permutation(n))
    terms = torch.empty(n, d, len(sizes), dtype=torch.float64)
    null_terms = torch.empty_like(terms)
    own_terms = torch.empty(n, d, dtype=torch.float64)
    for j in range(d):
        post = GaussianPosterior(mean[:, j : j + 1], logvar[:, j : j + 1])
        codes = sample_codes([post], generator)
        for start in range(0, n, chunk):
            rows = slice(start, min(start + chunk, n))
            m = log_q_matrix([post], codes, rows)  # [c, N]
            a = m.max(1, keepdim=True).values
            e = torch.exp(m - a)
            log_total = torch.log(e.sum(1))  # log Σ_m exp(M − a): log q̄(t_i) = a + this − log N
            # log q̄_v(t_i) − log q̄(t_i) = log(own-class sum / total) + log(N / N_v)
            terms[rows, j] = _log_own_class(m, e, index, sizes, rows) - log_total[:, None] + log_ratio[rows]
            null_own = _log_own_class(m, e, index[perm], sizes, rows)
            null_terms[rows, j] = null_own - log_total[:, None] + log_ratio[perm][rows]
            own = m.diagonal(offset=start)  # log q(t_i | x_i)
            own_terms[rows, j] = own - (a[:, 0] + log_total - math.log(n))
    return terms, own_terms, null_terms


def factor_mi(
    mean: torch.Tensor,
    logvar: torch.Tensor,
    factors: np.ndarray | torch.Tensor,
    generator: torch.Generator,
    factor_names: tuple[str, ...] | None = None,
    latent_names: tuple[str, ...] | None = None,
    split: str = "test",
    chunk: int = 1024,
    null_seed: int = 0,
    references: int = 0,
    null_codes: int = NULL_CODES,
) -> tuple[FactorMI, torch.Tensor]:
    """The I_q(z_j; v_k) matrix of Gaussian posteriors `mean`, `logvar` [N, D] against integer
    `factors` [N, F], and its per-image terms [N, D, F] (for MIG's stderr); `null_seed` draws the
    relabelling of the chance level (and the references). With `references` M > 0 and N > M · (1 + 2F)
    (where subsampling the F class mixtures, their chance level and the total costs fewer density
    evaluations than the exact N per code) the mixtures are subsampled (`factor_sampling`); else exact."""
    if mean.ndim != 2 or mean.shape != logvar.shape or mean.shape[0] < 2:
        raise UsageError(f"posterior means and log-variances must be equal [N, D] shapes, N >= 2; got {mean.shape}")
    n, d = mean.shape
    v = check_factors(factors, n, factor_names)
    f_names = factor_names or tuple(f"v{k}" for k in range(v.shape[1]))
    z_names = latent_names or tuple(f"z[{j}]" for j in range(d))
    estimator = MONTE_CARLO
    if references > 0 and n > references * (1 + 2 * v.shape[1]):  # else the exact sums cost less
        index = _class_index(v)[0].numpy()
        terms, own, null, rows = sampled_factor_terms(mean, logvar, index, generator, references, null_seed,
                                                      null_codes, null_seed)  # fmt: skip
        estimator = MONTE_CARLO_SAMPLED.format(m=references, null=len(rows))
    else:
        terms, own, null = factor_terms(mean, logvar, v, generator, chunk, null_seed)
    stats = [mean_and_stderr(terms[:, j, k]) for j in range(d) for k in range(v.shape[1])]
    values = np.array([s[0] for s in stats]).reshape(d, -1)
    stderr = np.array([s[1] for s in stats]).reshape(d, -1)
    info = [mean_and_stderr(own[:, j]) for j in range(d)]
    cap = float(np.log(n))
    near_cap = tuple(z for z, (value, _) in zip(z_names, info, strict=True) if value > cap - CAP_MARGIN)
    result = FactorMI(z_names, f_names, values, stderr, factor_entropies(v),
                      np.array([i[0] for i in info]), np.array([i[1] for i in info]), near_cap, n, split,
                      null.mean(0).numpy(), estimator)  # fmt: skip
    return result, terms


def _top_two(values: np.ndarray) -> np.ndarray:
    """Indices of the two largest entries of each column of [D, F] (ties: lower index first): [F, 2]."""
    return np.argsort(-values, axis=0, kind="stable")[:2].T


def mig_from_matrix(values: np.ndarray, entropies: np.ndarray, factor_names: tuple[str, ...], estimator: str,
                    terms: torch.Tensor | None = None) -> MIGScore:  # fmt: skip
    """MIG from a [D, F] information matrix and H(v_k) [F]; with per-image `terms` [N, D, F] the
    delta-method stderr, else NaN. Needs D >= 2 latents."""
    if values.shape[0] < 2:
        raise UsageError("MIG needs at least two latent dimensions")
    top = _top_two(values)
    keep = entropies > 0
    skipped = tuple(name for name, k in zip(factor_names, keep, strict=True) if not k)
    if not keep.any():
        raise UsageError("MIG needs a factor with more than one class")
    cols = np.arange(values.shape[1])
    gaps = np.where(keep, (values[top[:, 0], cols] - values[top[:, 1], cols]) / np.where(keep, entropies, 1), np.nan)
    gap_se = np.full(values.shape[1], np.nan)
    se = float("nan")
    if terms is not None:
        h = torch.from_numpy(entropies[keep])
        per_factor = (terms[:, top[:, 0], cols] - terms[:, top[:, 1], cols])[:, keep] / h
        gap_se[keep] = [mean_and_stderr(per_factor[:, i])[1] for i in range(per_factor.shape[1])]
        se = mean_and_stderr(per_factor.mean(1))[1]
    return MIGScore(float(np.nanmean(gaps)), se, gaps, gap_se, top, skipped, estimator)


def discretize(values: np.ndarray, bins: int = 20) -> np.ndarray:
    """disentanglement_lib's `make_discretizer` on [N, D]: per column, the index of its equal-width
    histogram bin (np.digitize against np.histogram's left edges, so indices run 1..bins): [N, D]."""
    return np.stack([np.digitize(col, np.histogram(col, bins)[1][:-1]) for col in values.T], axis=1)


def histogram_mi(means: np.ndarray, factors: np.ndarray, bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Plug-in I(bin(μ_j); v_k) [D, F] and H(v_k) [F] in nats, as disentanglement_lib computes them."""
    binned = discretize(means, bins)
    matrix = np.array([[_mi(f, b) for f in factors.T] for b in binned.T], dtype=np.float64)
    return matrix, np.array([_mi(f, f) for f in factors.T], dtype=np.float64)


def _mi(a: np.ndarray, b: np.ndarray) -> float:
    """sklearn's `mutual_info_score(a, b)`, given its sparse contingency table (skips re-validating
    the labels, half the cost of the bootstrap)."""
    from sklearn.metrics import mutual_info_score
    from sklearn.metrics.cluster import contingency_matrix

    return float(mutual_info_score(None, None, contingency=contingency_matrix(a, b, sparse=True)))


def histogram_mig(
    means: np.ndarray, factors: np.ndarray, factor_names: tuple[str, ...], config: FactorConfig = FactorConfig()
) -> tuple[np.ndarray, MIGScore]:
    """disentanglement_lib's discrete MIG of posterior means [N, D] against factors [N, F], with a
    bootstrap stderr over images (`config.bootstrap` resamples from `config.seed`)."""
    label = MIG_HISTOGRAM.format(bins=config.bins)
    matrix, h = histogram_mi(means, factors, config.bins)
    score = mig_from_matrix(matrix, h, factor_names, label)
    if config.bootstrap < 2:
        return matrix, score
    draws = bootstrap_migs(discretize(means, config.bins), factors, factor_names, config.bootstrap, config.seed)
    stderr = float(np.nanstd(draws, ddof=1))
    return matrix, MIGScore(score.value, stderr, score.gaps, score.gap_stderr, score.top_two, score.skipped, label)


def bootstrap_migs(binned: np.ndarray, factors: np.ndarray, factor_names: tuple[str, ...], resamples: int,
                   seed: int) -> np.ndarray:  # fmt: skip
    """The histogram MIG of `resamples` bootstrap resamples of the images (NaN where a resample has no
    factor with two classes): [resamples]. `binned` [N, D] bin indices, `factors` [N, F] classes. A
    resample is its multiplicities w [N] (`rng.integers` draws, seeded): every contingency table is a
    w-weighted count of the same bins, so no resampled copy of the data is made."""
    from scipy.stats import entropy as scipy_entropy

    rng = np.random.default_rng(seed)
    n = len(binned)
    classes = [np.unique(col, return_inverse=True)[1].reshape(-1) for col in factors.T]
    sizes = [int(c.max()) + 1 for c in classes]
    width = int(binned.max()) + 1
    draws = np.full(resamples, np.nan)
    for r in range(resamples):
        w = np.bincount(rng.integers(0, n, n), minlength=n)
        h = np.array([scipy_entropy(np.bincount(c, w, k)) for c, k in zip(classes, sizes, strict=True)])
        if not (h > 0).any():
            continue
        # each cell's joint index bin · K + class is formed here, not kept: D · F index arrays of N would not fit
        matrix = np.array([[_mi_counts(np.bincount(b * k + c, w, width * k).reshape(width, k)) for c, k in
                            zip(classes, sizes, strict=True)] for b in binned.T])  # fmt: skip
        draws[r] = mig_from_matrix(matrix, h, factor_names, "").value
    return draws


def _mi_counts(table: np.ndarray) -> float:
    """sklearn's `mutual_info_score` of a dense contingency table of whole counts."""
    from sklearn.metrics import mutual_info_score

    return float(mutual_info_score(None, None, contingency=table.astype(np.int64)))


def factor_report(
    mean: torch.Tensor,
    logvar: torch.Tensor,
    factors: np.ndarray | torch.Tensor,
    generator: torch.Generator,
    factor_names: tuple[str, ...] | None = None,
    latent_names: tuple[str, ...] | None = None,
    split: str = "test",
    config: FactorConfig = FactorConfig(),
) -> FactorReport:
    """The factor matrix, its MIG and the disentanglement_lib MIG for posteriors [N, D] and factors
    [N, F]; the Monte-Carlo draws come from `generator`, the chance-level relabelling and the
    bootstrap from `config.seed`."""
    mi, terms = factor_mi(mean, logvar, factors, generator, factor_names, latent_names, split, config.chunk,
                          config.seed, config.references, config.null_codes)  # fmt: skip
    mig = mig_from_matrix(mi.values, mi.factor_entropy, mi.factor_names, MIG_MC, terms)
    del terms  # [N, D, F]: freed before the histogram MIG's arrays
    v = check_factors(factors, mi.n)
    matrix, hist = histogram_mig(mean.double().cpu().numpy(), v, mi.factor_names, config)
    return FactorReport(mi, mig, matrix, hist)


def split_factor_report(
    encoded: EncodedSplit, generator: torch.Generator, config: FactorConfig = FactorConfig()
) -> FactorReport:
    """`factor_report` of an encoded split (`vmieval.encoded.EncodedSplit`): every Gaussian block's
    dims, named `block[j]`, against the split's factors; a split without factors is a UsageError
    that the caller reports once."""
    factors = encoded.factors
    if factors is None:
        raise UsageError("factor metrics (MIG) need ground-truth factors; this data has none")
    gaussians = [(name, p) for name, p in encoded.posterior.items() if isinstance(p, GaussianPosterior)]
    if not gaussians:
        raise UsageError("factor metrics need a Gaussian latent block; this model has none")
    mean = torch.cat([p.mean for _, p in gaussians], dim=1)
    logvar = torch.cat([p.logvar for _, p in gaussians], dim=1)
    names = tuple(f"{name}[{j}]" for name, p in gaussians for j in range(p.mean.shape[1]))
    factor_names = tuple(encoded.factor_names) or None
    return factor_report(mean, logvar, factors, generator, factor_names, names, encoded.split, config)

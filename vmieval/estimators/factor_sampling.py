"""The factor matrix's Monte-Carlo terms at dataset scale: O(D · N · M) instead of O(D · N²).

Same estimand and per-image terms as `factors.factor_terms` (derivation in docs/estimators.md):
term_n = log q̄_{v_n}(t_n) − log q̄(t_n), t_n ~ q(z_j|x_n), one code per image, the same code draws.
Only the mixture sums change: for each code t_i, S_G(t_i) = Σ_{m in G} q(t_i|x_m) over its group G
(all images, or the images sharing its class of one factor) is its own term q(t_i|x_i), exact, plus
an unbiased systematic-sample estimate of the others: G's L other images sorted by posterior mean,
M ranks floor((b + u_i) · k), b < M, k = L / M, one uniform offset u_i per code, each weighted k
(every image is drawn with probability 1/k, so the weighted sum is unbiased). A group of at most
M + 1 images is summed exactly (k = 1: every other image once), so the estimator is the exact one
when N ≤ M + 1. Sorting by mean makes the draws follow the mixture's shape, so the number of draws
near a sharp posterior barely varies (systematic, not Poisson, sampling).

Each code draws its own references from `generator`, independently of every other code, so the
per-image terms stay independent given the data and std_n(term) / √N already contains the
subsampling noise: the stderr is honest without a second variance term. log of an unbiased sum is
biased down by about Var/(2·S²) per mixture; the two mixtures' biases partly cancel, and
benchmarks/bench_factors.py measures what is left against the exact matrix at N = 10k (a
successive-difference variance correction was tried and dropped: it over-corrects step-shaped
mixtures, e.g. a factor copied into a sharp latent). The densities are float32 (the references are
gathered at random, so bytes are the cost); sums and terms are float64.

Cost per dim: (1 + F) · N · M Gaussian log-densities (+ F · R · M for the chance level on R
images), plus as many stable sorts of N; memory O(BLOCK), `BLOCK // M` codes at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from vmieval.distributions import GaussianPosterior
from vmieval.estimators.aggregate import LOG_2PI
from vmieval.estimators.encoder import sample_codes

BLOCK = 1 << 18  # codes x references per block: a few MB per array
TERM_DTYPE = torch.float32  # per-image terms kept for the stderr: [N, D, F], 150 MB at dSprites' N (means are float64)
STRATA = torch.arange(1 << 16, dtype=torch.float64)  # b = 0, 1, ... of the systematic draws
DENSITY_DTYPE = torch.float32  # the [c, M] log-densities (gathered at random: half the bytes of float64)


class SortedGroups:
    """Images of one dim sorted by (group, posterior mean) with what a code needs to find its group:
    for each image n, `start[n]` and `size[n]` of its group in the sorted order and its own `pos[n]`.
    The sorted arrays hold each reference's mean, 1/(2σ²) and −log(σ√2π) (float64 [N])."""

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor, groups: np.ndarray, by_mean: np.ndarray) -> None:
        order = by_mean[np.argsort(groups[by_mean], kind="stable")]
        n = len(order)
        pos = np.empty(n, dtype=np.int64)
        pos[order] = np.arange(n)
        _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.pos = torch.from_numpy(pos)
        self.start = torch.from_numpy(starts[inverse.reshape(-1)])
        self.size = torch.from_numpy(counts[inverse.reshape(-1)])
        idx = torch.from_numpy(order)
        self.n = n
        parts = (mean[idx], 0.5 * torch.exp(-logvar[idx]), -0.5 * (logvar[idx] + LOG_2PI))
        self.packed = torch.stack(parts, dim=1).to(DENSITY_DTYPE)


def log_group_sum(
    codes: torch.Tensor, own: torch.Tensor, rows: torch.Tensor, g: SortedGroups, m: int, generator: torch.Generator
) -> torch.Tensor:
    """log S_G(t_i) for codes `codes` [c] of images `rows` [c] with own log q(t_i|x_i) `own` [c]:
    the own term plus a systematic M-draw estimate over the group's L other images (module
    docstring): ranks floor((b + u_i) · k) for b < M, k = max(L / M, 1), each weighted k. [c]"""
    others = g.size[rows] - 1
    step = torch.clamp(others.double() / m, min=1.0)
    u = torch.rand(len(rows), generator=generator, dtype=torch.float64)
    own_pos = g.pos[rows][:, None]
    # sorted position of draw b: start + floor((b + u) · k), one fused multiply-add, then skip the own image
    idx = torch.addcmul((g.start[rows] + u * step)[:, None], STRATA[:m], step[:, None]).long()
    idx += idx >= own_pos
    small = bool((others < m).any())  # a group of L < M others: only its first L draws exist (k = 1)
    if small:
        valid = (idx - g.start[rows][:, None] - (idx > own_pos).long()) < others[:, None]
        idx.clamp_(max=g.n - 1)
    ref = g.packed.index_select(0, idx.view(-1)).view(*idx.shape, 3)  # mean, 1/(2σ²), −log(σ√2π)
    diff = codes.to(DENSITY_DTYPE)[:, None] - ref[..., 0]
    log_q = torch.addcmul(ref[..., 2], ref[..., 1], diff * diff, value=-1.0)
    if small:
        log_q.masked_fill_(~valid, -1e30)
    top = log_q.amax(1, keepdim=True)
    # exp of terms more than 80 nats under the row's largest would be float32 denormals (slow, and
    # below 1e-34 of the sum): clamped there; a missing draw (L < M) is zeroed after the exp
    e = log_q.sub_(top).clamp_(min=-80.0).exp_()
    if small:
        e *= valid
    others_sum = top[:, 0].double() + torch.log(e.sum(1).double()) + torch.log(step)
    return torch.logaddexp(own, others_sum)


def sampled_factor_terms(
    mean: torch.Tensor,
    logvar: torch.Tensor,
    index: np.ndarray,
    generator: torch.Generator,
    references: int,
    reference_seed: int = 0,
    null_codes: int = 10_000,
    null_seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-image terms with `references` strata per mixture: of I_q(z_j; v_k) [N, D, F] (float32), of I_q(x; z_j)
    [N, D], and of the chance level [R, D, F] on R = min(N, `null_codes`) images (seeded by
    `null_seed`; also returned, [R]), the factor rows permuted among all images as in the exact path.

    `mean`, `logvar` [N, D]; `index` [N, F] each image's class index per factor (0..K−1). Codes are
    drawn in dim order from `generator` (the exact path's draws); references from `reference_seed`.
    """
    mean, logvar = mean.cpu(), logvar.cpu()  # float64 one dim at a time: [N, D] copies cost memory at dSprites' N
    n, d = mean.shape
    rng = np.random.default_rng(null_seed)
    perm = rng.permutation(n)
    null_rows = torch.from_numpy(np.sort(rng.permutation(n)[: min(n, null_codes)]))
    log_ratio = [np.log(n / np.bincount(col)[col]) for col in index.T]
    refs = torch.Generator().manual_seed(reference_seed)
    terms = torch.zeros(n, d, index.shape[1], dtype=TERM_DTYPE)
    null = torch.zeros(len(null_rows), d, index.shape[1], dtype=torch.float64)
    own_terms = torch.empty(n, d, dtype=torch.float64)
    chunk = max(1, BLOCK // references)
    for j in range(d):
        mean_j, logvar_j = mean[:, j].double(), logvar[:, j].double()
        t, own, log_total, by_mean = _whole_mixture(mean_j, logvar_j, generator, references, refs, chunk)
        own_terms[:, j] = own - (log_total - math.log(n))
        for k, col in enumerate(index.T):
            if log_ratio[k].max() == 0.0:
                continue  # a single class: its mixture is the whole set, the term is exactly 0
            dim = _Dim(t, own, log_total, mean_j, logvar_j, by_mean, references, refs, chunk)
            terms[:, j, k] = dim.class_terms(col, log_ratio[k], torch.arange(n))
            null[:, j, k] = dim.class_terms(col[perm], log_ratio[k][perm], null_rows)
    return terms, own_terms, null, null_rows


def _whole_mixture(
    mean: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator, m: int, refs: torch.Generator, chunk: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray]:
    """One dim's codes t_n ~ q(z|x_n) [N] (drawn from `generator`), their own log q(t_n|x_n) [N], the
    M-reference estimate of log Σ_m q(t_n|x_m) over all images [N], and the images' order by mean."""
    post = GaussianPosterior(mean[:, None], logvar[:, None])
    (t,) = sample_codes([post], generator)
    t = t[:, 0]
    own = _own_log_q(t, mean, logvar)
    by_mean = np.argsort(mean.numpy(), kind="stable")
    whole = SortedGroups(mean, logvar, np.zeros(len(t), dtype=np.int64), by_mean)
    log_total = torch.cat([log_group_sum(t[r], own[r], r, whole, m, refs) for r in _blocks(len(t), chunk)])
    return t, own, log_total, by_mean


def sampled_dim_terms(
    mean: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator, references: int, reference_seed: int = 0
) -> torch.Tensor:
    """Per-image terms of I_q(x; z) for one Gaussian dim, log q(t_n|x_n) − log q̄(t_n) [N] (float64),
    with q̄ from `references` systematic references per code (own term exact): O(N · M), not O(N²).
    `mean`, `logvar` [N]; codes from `generator`, references from `reference_seed`."""
    mean, logvar = mean.detach().cpu().double(), logvar.detach().cpu().double()
    refs = torch.Generator().manual_seed(reference_seed)
    _, own, log_total, _ = _whole_mixture(mean, logvar, generator, references, refs, max(1, BLOCK // references))
    return own - (log_total - math.log(len(own)))


@dataclass(frozen=True)
class _Dim:
    """One dim's codes `t` [N], own log-densities `own` [N], log S(t) over all images `log_total` [N],
    posteriors `mean`, `logvar` [N] and their order by mean; M strata, the reference generator, chunk."""

    t: torch.Tensor
    own: torch.Tensor
    log_total: torch.Tensor
    mean: torch.Tensor
    logvar: torch.Tensor
    by_mean: np.ndarray
    m: int
    generator: torch.Generator
    chunk: int

    def class_terms(self, classes: np.ndarray, log_ratio: np.ndarray, rows: torch.Tensor) -> torch.Tensor:
        """log q̄_v(t_i) − log q̄(t_i) = log S_v(t_i) − log S(t_i) + log(N / N_v) for images `rows` [R]
        grouped by `classes` [N] with their log(N / N_v) `log_ratio` [N]: [R]."""
        groups = SortedGroups(self.mean, self.logvar, classes, self.by_mean)
        parts = [
            log_group_sum(self.t[r], self.own[r], r, groups, self.m, self.generator)
            for r in (rows[b] for b in _blocks(len(rows), self.chunk))
        ]
        return torch.cat(parts) - self.log_total[rows] + torch.from_numpy(log_ratio)[rows]


def _blocks(n: int, chunk: int) -> list[torch.Tensor]:
    """Consecutive index blocks of at most `chunk` of range(n)."""
    return [torch.arange(s, min(s + chunk, n)) for s in range(0, n, chunk)]


def _own_log_q(t: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log q(t_n | x_n) of each image's own code [N] (float64)."""
    return -0.5 * ((t - mean) ** 2 * torch.exp(-logvar) + logvar + LOG_2PI)

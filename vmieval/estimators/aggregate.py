"""The aggregate posterior q̄(t) = (1/N) Σ_n q(t | x_n) of a target over a dataset, and its density.

Both sides of the method need it. Decoder side: under posterior codes the codes are drawn from q̄,
so H(q̄) is the H(c) of the Barber-Agakov bound. Encoder side: I_q(x; t) = E[log q(t|x) − log q̄(t)].
Everything here is float64 and chunked over codes, so an [S, N] log-density matrix never exists
whole: memory stays O(chunk · N).

A target's posterior is a list of posterior objects in target order (`EncodedSplit.target`): a
categorical block holding float64 log-probabilities [N, K], or the chosen Gaussian dims' float64
mean and log-variance [N, d]. Codes are a list of the same length: indices [S] for a categorical
part, values [S, d] for a Gaussian one (the layout `QNetwork.log_likelihood` takes). Blocks are
independent given x (the FrozenVAE contract), so log q(t | x) is the sum of the parts' log-densities.
"""

from __future__ import annotations

import math

import torch

from vmieval.distributions import BlockPosterior, CategoricalPosterior, categorical_entropy

LOG_2PI = math.log(2.0 * math.pi)
TargetPosterior = list[BlockPosterior]
EXPANSION_TOLERANCE = 1e-6  # nats: the largest cancellation error allowed in a Gaussian log-density
MAX_JOINT_TABLE = 50_000_000  # N · ∏K entries above which a joint categorical table is not built


def log_q_matrix(parts: TargetPosterior, codes: list[torch.Tensor], rows: slice) -> torch.Tensor:
    """log q(t_i | x_n) for codes i in `rows` against every posterior n: [len(rows), N], float64.

    Memory stays O(chunk · N). The Gaussian quadratic form Σ_d (t−μ)²/σ² is computed by matrix
    products, t²·σ⁻² − 2t·μσ⁻² + μ²σ⁻², when the cancellation error of that expansion is provably
    below EXPANSION_TOLERANCE nats; for very sharp posteriors far from 0, where it would not be, it
    is accumulated exactly one dimension at a time (O(chunk · N · d) elementwise, much slower).
    """
    total: torch.Tensor | None = None
    for post, code in zip(parts, codes, strict=True):
        c = code[rows]
        if isinstance(post, CategoricalPosterior):
            term = post.log_probs.index_select(1, c.long()).T
        else:
            term = _gaussian_log_density(c.double(), post.mean, post.logvar)
        total = term if total is None else total + term
    assert total is not None
    return total


def _gaussian_log_density(t: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(t_i; μ_n, diag σ²_n) for codes t [S, d] against posteriors [N, d]: [S, N]."""
    inv_var = torch.exp(-logvar)
    d = t.shape[1]
    const = (-0.5 * (d * LOG_2PI + logvar.sum(1))).expand(t.shape[0], -1)
    # |rounding error| of the expansion <= eps · Σ_d (|t| + |μ|)² / σ², bounded over the whole block.
    scale = d * float((t.abs().max() + mean.abs().max()) ** 2 * inv_var.max())
    if scale * torch.finfo(torch.float64).eps < EXPANSION_TOLERANCE:
        quad = (t * t) @ inv_var.T - 2.0 * (t @ (mean * inv_var).T) + (mean * mean * inv_var).sum(1)
        return const - 0.5 * quad
    term = const.clone()
    for j in range(d):
        term -= 0.5 * (t[:, j : j + 1] - mean[:, j]).pow_(2).mul_(inv_var[:, j])
    return term


def log_q_own(parts: TargetPosterior, codes: list[torch.Tensor], owner: torch.Tensor) -> torch.Tensor:
    """log q(t_i | x_{owner_i}) [S]: each code under the posterior that generated it."""
    total = torch.zeros(owner.shape[0], dtype=torch.float64)
    for post, code in zip(parts, codes, strict=True):
        total += post.index(owner).log_prob(code if isinstance(post, CategoricalPosterior) else code.double())
    return total


def log_aggregate(parts: TargetPosterior, codes: list[torch.Tensor], chunk: int = 1024) -> torch.Tensor:
    """log q̄(t_i) = logsumexp_n log q(t_i | x_n) − log N for every code: [S], float64."""
    n = parts[0].n
    s = codes[0].shape[0]
    out = torch.empty(s, dtype=torch.float64)
    for i in range(0, s, chunk):
        rows = slice(i, min(i + chunk, s))
        out[rows] = torch.logsumexp(log_q_matrix(parts, codes, rows), dim=1) - math.log(n)
    return out


def log_aggregate_sampled(
    parts: TargetPosterior, codes: list[torch.Tensor], references: int, generator: torch.Generator, chunk: int = 256
) -> torch.Tensor:
    """log q̄(t_i) for the codes of images i = 0..N−1 (code i drawn from q(t|x_i)) in O(N · M): the own
    term log q(t_i|x_i) exactly, plus the other N−1 images' sum estimated from M references drawn
    uniformly with replacement, independently per code (from `generator`), each weighted (N−1)/M.
    The sum is unbiased and the codes' terms stay independent, so a stderr over codes holds the
    subsampling noise; the log of an unbiased sum is biased low by about Var/(2·S²). [N], float64."""
    n = parts[0].n
    own = log_q_own(parts, codes, torch.arange(n))
    out = torch.empty(n, dtype=torch.float64)
    log_weight = math.log((n - 1) / references)
    for start in range(0, n, chunk):
        rows = torch.arange(start, min(start + chunk, n))
        refs = torch.randint(0, n - 1, (len(rows), references), generator=generator)
        refs += (refs >= rows[:, None]).long()  # skip the code's own image
        total = torch.zeros(refs.shape, dtype=torch.float64)
        for post, code in zip(parts, codes, strict=True):
            c = code[rows]
            if isinstance(post, CategoricalPosterior):
                total += post.log_probs.double()[refs, c.long()[:, None]]
            else:
                mean, logvar = post.mean.double()[refs], post.logvar.double()[refs]  # [c, M, d]
                quad = ((c.double()[:, None, :] - mean) ** 2 * torch.exp(-logvar)).sum(2)
                total += -0.5 * (quad + logvar.sum(2) + mean.shape[2] * LOG_2PI)
        others = torch.logsumexp(total, dim=1) + log_weight
        out[rows] = torch.logaddexp(own[rows], others) - math.log(n)
    return out


def joint_categorical_entropy(parts: TargetPosterior) -> float | None:
    """Exact H(q̄) of a target made only of categorical parts, or None when that is not possible.

    The joint aggregate is (1/N) Σ_n ⊗_j q(c_j | x_n); it is built as an [N, ∏K] table, so it is
    skipped (None: use Monte Carlo) when the table would exceed MAX_JOINT_TABLE entries.
    """
    if not all(isinstance(p, CategoricalPosterior) for p in parts):
        return None
    if parts[0].n * math.prod(p.size for p in parts) > MAX_JOINT_TABLE:
        return None
    table = parts[0].log_probs.double()
    for p in parts[1:]:
        table = (table.unsqueeze(2) + p.log_probs.double().unsqueeze(1)).flatten(1)
    return float(categorical_entropy(CategoricalPosterior(table, normalised=True).aggregate_log_probs()))

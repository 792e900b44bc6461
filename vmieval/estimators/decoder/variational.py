"""InfoNCE, NWJ and one interpolated bound I_α on I(t; x_hat), with the fitted Q as critic
f(t, x_hat) = log Q(t | x_hat) − log p(t), p the codes' marginal (Poole, Ozair, van den Oord, Alemi &
Tucker, "On Variational Bounds of Mutual Information", ICML 2019, section 2.5), scored on pairs cut
into batches of N. The density ratio is the critic every one of these bounds is tightest for when Q is
the true posterior, so Q's fitting noise moves them only to second order, as it moves Barber-Agakov.

Per-image terms [M] (M a multiple of N): 1 + S[j, j] − log(α m_j + (1 − α) a) − m'_j / (α m'_j + (1 − α) a),
with S [N, N] the critic on a batch's codes × images, m_j, m'_j the mean of e^S over the batch's own
and the next batch's codes, a the NWJ baseline fitted on validation pairs. α = 1 is InfoNCE (capped at
log N), α = 0 NWJ. The derivation and why BA stays the headline: docs/estimators.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vmieval.distributions import gaussian_log_density
from vmieval.estimators.decoder.pairs import GeneratedPairs
from vmieval.estimators.decoder.qnet import QNetwork

DEFAULT_BATCH = 128
INTERPOLATION_ALPHA = 0.5
GAUSSIAN_LOGVAR_CLAMP = (-10.0, 10.0)  # as in QNetwork.log_likelihood, so S[j, j] = log Q(t_j | x̂_j)


@dataclass(frozen=True)
class VariationalTerms:
    """Per-image terms [M] (M = held-out pairs used, a multiple of `batch`) of each bound, keyed by
    name ('infonce', 'nwj', 'interpolated'); `caps` the largest value each can reach (inf: none);
    `log_baseline` log a, fitted on the validation pairs."""

    terms: dict[str, torch.Tensor]
    caps: dict[str, float]
    batch: int
    alpha: float
    log_baseline: float


@torch.no_grad()
def critic_scores(
    q: QNetwork, x_hat: torch.Tensor, codes: list[torch.Tensor], log_marginal: torch.Tensor | None = None
) -> torch.Tensor:
    """S[i, j] = log Q(t_i | x̂_j) − log p(t_i) for codes t [N] / [N, d] (their log p [N], or None for
    log Q alone) and images x̂ [N', C, H, W]: [N, N'], float64."""
    return _critic_matrix(q, _outputs(q, x_hat), codes, log_marginal)


@torch.no_grad()
def _outputs(q: QNetwork, x_hat: torch.Tensor) -> list[torch.Tensor]:
    q.eval()
    return q(x_hat)


def _critic_matrix(
    q: QNetwork, outputs: list[torch.Tensor], codes: list[torch.Tensor], log_marginal: torch.Tensor | None = None
) -> torch.Tensor:
    """`critic_scores` from Q's outputs on the images (one forward pass serves several code sets)."""
    device = outputs[0].device
    total = torch.zeros(codes[0].shape[0], outputs[0].shape[0], dtype=torch.float64, device=device)
    for part, out, code in zip(q.parts, outputs, codes, strict=True):
        code = code.to(device)
        if part.kind == "categorical":
            total += torch.log_softmax(out.double(), dim=1)[:, code.long()].T
        else:
            mean, logvar = out[:, : part.size].double(), out[:, part.size :].double().clamp(*GAUSSIAN_LOGVAR_CLAMP)
            t = code.double().unsqueeze(1)  # [N, 1, d] against [1, N', d]
            total += gaussian_log_density(t, mean.unsqueeze(0), logvar.unsqueeze(0)).sum(2)
    if log_marginal is not None:
        total -= log_marginal.to(total.device, torch.float64).unsqueeze(1)
    return total.cpu()


def _batches(pairs: GeneratedPairs, batch: int) -> list[GeneratedPairs]:
    n = len(pairs) // batch
    return [pairs.select(slice(i * batch, (i + 1) * batch)) for i in range(n)]


def _scores(q: QNetwork, images: GeneratedPairs, codes: GeneratedPairs) -> torch.Tensor:
    """The critic on `codes`' codes against `images`' images (density ratio where the codes carry log p)."""
    return critic_scores(q, images.x_hat, codes.codes, codes.log_marginal)


def _log_mean_exp(scores: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.logsumexp(scores, dim=dim) - math.log(scores.shape[dim])


def fit_log_baseline(q: QNetwork, val: GeneratedPairs, batch: int = DEFAULT_BATCH) -> float:
    """log a, a = mean of e^{f(t', x̂)} over validation images x̂ and codes t' of another batch."""
    batch = min(batch, len(val) // 2)
    if batch < 1:
        raise ValueError("the NWJ baseline needs at least 2 validation pairs")
    parts = _batches(val, batch)
    cross = [_scores(q, parts[b], parts[(b + 1) % len(parts)]) for b in range(len(parts))]
    return float(_log_mean_exp(torch.cat([c.flatten() for c in cross]), 0))


def interpolated_terms(own: torch.Tensor, other: torch.Tensor, alpha: float, log_baseline: float) -> torch.Tensor:
    """Per-image I_α terms [N] from one batch's scores `own` [N, N] (codes × its images) and the
    next batch's codes against the same images, `other` [N, N]. α = 1 gives InfoNCE exactly."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    log_m, log_m_other = _log_mean_exp(own, 0), _log_mean_exp(other, 0)
    if alpha == 1.0:
        return own.diagonal() - log_m
    log_a = torch.full_like(log_m, log_baseline + math.log1p(-alpha))
    if alpha == 0.0:
        log_mix, log_mix_other = log_a, log_a
    else:
        log_mix = torch.logaddexp(math.log(alpha) + log_m, log_a)
        log_mix_other = torch.logaddexp(math.log(alpha) + log_m_other, log_a)
    return 1.0 + own.diagonal() - log_mix - torch.exp(log_m_other - log_mix_other)


def variational_terms(
    q: QNetwork,
    test: GeneratedPairs,
    val: GeneratedPairs,
    batch: int = DEFAULT_BATCH,
    alpha: float = INTERPOLATION_ALPHA,
) -> VariationalTerms:
    """InfoNCE, NWJ and I_α terms of the critic on the held-out pairs `test` (baseline from `val`): the
    density ratio where the pairs carry `log_marginal`, log Q alone where they do not.

    `batch` is lowered to half the held-out pairs when there are fewer than 2·batch of them.
    """
    batch = min(batch, len(test) // 2)
    if batch < 2:
        raise ValueError(f"variational bounds need at least 4 held-out pairs, got {len(test)}")
    log_a = fit_log_baseline(q, val, batch)
    parts = _batches(test, batch)
    out: dict[str, list[torch.Tensor]] = {"infonce": [], "nwj": [], "interpolated": []}
    for b, part in enumerate(parts):
        outputs = _outputs(q, part.x_hat)
        own = _critic_matrix(q, outputs, part.codes, part.log_marginal)
        nxt = parts[(b + 1) % len(parts)]
        other = _critic_matrix(q, outputs, nxt.codes, nxt.log_marginal)
        out["infonce"].append(interpolated_terms(own, other, 1.0, log_a))
        out["nwj"].append(interpolated_terms(own, other, 0.0, log_a))
        out["interpolated"].append(interpolated_terms(own, other, alpha, log_a))
    caps = {"infonce": math.log(batch), "nwj": math.inf, "interpolated": 1.0 + math.log(batch / alpha)}
    return VariationalTerms({k: torch.cat(v) for k, v in out.items()}, caps, batch, alpha, log_a)

"""Decoder-side lower bounds on I(t; x_hat) from a post-hoc Q: Barber-Agakov and Fano, their H(t).

Barber-Agakov (Barber & Agakov, "The IM algorithm", NIPS 2003): I(t; x_hat) ≥ H(t) + E[log Q(t | x_hat)],
with H(t) the entropy of the marginal the codes were drawn from (prior, or the aggregate posterior q̄);
Fano: I(c; x_hat) ≥ H(c) − h(P_e) − P_e·log(K − 1). Terms are per held-out pair [S]; the derivation and
the paper's log K row are in docs/estimators.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from vmieval.distributions import CategoricalPosterior, gaussian_log_density
from vmieval.encoded import EncodedSplit
from vmieval.estimators.aggregate import joint_categorical_entropy, log_aggregate
from vmieval.estimators.config import MIConfig
from vmieval.estimators.decoder.fit import QCurve
from vmieval.estimators.decoder.qnet import QPart
from vmieval.estimators.estimate import Entropy, Estimate
from vmieval.spec import ModelSpec, Target, TargetPart

PAPER_NOTE = (
    "the paper's H = the prior's entropy; not a valid bound when the aggregate posterior differs from the prior"
)
STILL_IMPROVING = "q_still_improving"


@dataclass(frozen=True)
class QBoundResult:
    """Decoder-side rows for one target, plus how they were obtained: Q's curve, its held-out
    accuracy per categorical part, the H(t) used (`entropy`, chosen as `entropy_choice`, and the
    paper's `paper_entropy`), the pair counts and the seconds spent per phase (generate, fit, score)."""

    target: str
    codes: str
    q_arch: str
    rows: tuple[Estimate, ...]
    curve: QCurve
    accuracy: dict[str, float]
    entropy: float
    entropy_choice: Entropy
    paper_entropy: float
    n_fit: int
    n_val: int
    n_test: int
    seconds: dict[str, float]

    @property
    def still_improving(self) -> bool:
        """Q's best validation score came at its last allowed epoch: a longer fit may tighten the bound."""
        return self.curve.still_improving

    def estimates(self) -> list[Estimate]:
        return list(self.rows)

    def to_dict(self) -> dict[str, object]:
        return {
            "architecture": self.q_arch,
            "codes": self.codes,
            "n_fit": self.n_fit,
            "n_val": self.n_val,
            "n_test": self.n_test,
            "accuracy": dict(self.accuracy),
            "entropy": self.entropy,
            "entropy_choice": self.entropy_choice,
            "paper_entropy": self.paper_entropy,
            "still_improving": self.still_improving,
            "curve": self.curve.to_dict(),
        }


def binary_entropy(p: float) -> float:
    return 0.0 if p <= 0.0 or p >= 1.0 else -(p * math.log(p) + (1 - p) * math.log1p(-p))


def fano_bound(h: float, p_err: float, k: int, n: int) -> tuple[float, float]:
    """H − h(P_e) − P_e·log(K−1) and its delta-method stderr from the binomial variance of P_e.

    The derivative of the bound in P_e is log(P_e / (1 − P_e)) − log(K − 1); it diverges at 0 and 1,
    so the stderr is evaluated at P_e moved half a count inside (0, 1).
    """
    value = h - binary_entropy(p_err) - p_err * math.log(k - 1)
    p = min(max(p_err, 0.5 / n), 1.0 - 0.5 / n)
    return value, abs(fano_slope(p_err, k, n)) * math.sqrt(p * (1.0 - p) / n)


def fano_slope(p_err: float, k: int, n: int) -> float:
    """d(Fano bound)/dP_e at P_e moved half a count (of n) inside (0, 1), where it is finite."""
    p = min(max(p_err, 0.5 / n), 1.0 - 0.5 / n)
    return math.log(p / (1.0 - p)) - math.log(k - 1)


def fano_parts(
    parts: tuple[QPart, ...], target: Target, split: EncodedSplit | None
) -> Iterator[tuple[int, QPart, TargetPart, float]]:
    """(index, Q part, target part, H(c)) for each categorical part Fano's bound applies to.

    H(c) is log K for prior codes (`split` None), else the split's exact H(q̄) of that block.
    """
    for j, (qpart, tpart) in enumerate(zip(parts, target.parts, strict=True)):
        if qpart.kind == "categorical":
            h_c = math.log(qpart.size) if split is None else split.aggregate_entropy[tpart.block]
            yield j, qpart, tpart, h_c


def entropy_terms(
    split: EncodedSplit | None, target: Target, codes: list[torch.Tensor], prior_h: float, config: MIConfig
) -> tuple[torch.Tensor, Entropy]:
    """Per held-out pair, the H(t) term of the bound [S] and which H it is.

    Prior codes: the prior's entropy. Posterior codes: H(q̄), read from the split for one categorical
    block, from the joint table for several, else Monte Carlo (−log q̄ of the held-out codes).
    """
    s = codes[0].shape[0]
    if split is None:
        return torch.full((s,), prior_h, dtype=torch.float64), "prior"
    blocks = [p.block for p in target.parts]
    if len(blocks) == 1 and blocks[0] in split.aggregate_entropy:
        return torch.full((s,), split.aggregate_entropy[blocks[0]], dtype=torch.float64), "aggregate"
    parts = split.target(target)
    exact = joint_categorical_entropy(parts)
    if exact is not None:
        return torch.full((s,), exact, dtype=torch.float64), "aggregate"
    return -log_aggregate(parts, codes, config.chunk), "aggregate-mc"


def code_log_marginal(
    split: EncodedSplit | None, spec: ModelSpec, target: Target, codes: list[torch.Tensor], chunk: int = 1024
) -> torch.Tensor:
    """log p(t_i) [S], float64: each code's density under the marginal it was drawn from, the prior
    (`split` None: log 1/K per categorical part, the standard normal per Gaussian dim) or the aggregate
    posterior q̄ (exact: one categorical part from q̄(c), otherwise the mixture over the N images).

    The contrastive rows use it to turn log Q(t|x̂) into the density ratio log Q(t|x̂)/p(t), the critic
    those bounds are tightest for (docs/estimators.md, "InfoNCE, NWJ and the interpolated bound").
    """
    if split is None:
        total = torch.zeros(codes[0].shape[0], dtype=torch.float64)
        for part, code in zip(target.parts, codes, strict=True):
            block = spec.block(part.block)
            if block.kind == "categorical":
                total -= math.log(block.size)
            else:
                zero = torch.zeros((), dtype=torch.float64)
                total += gaussian_log_density(code.double(), zero, zero).sum(1)
        return total
    parts = split.target(target)
    if len(parts) == 1 and isinstance(parts[0], CategoricalPosterior):
        return parts[0].aggregate_log_probs().double()[codes[0].long()]
    return log_aggregate(parts, codes, chunk)

"""Decoder-side lower bounds on I(t; x_hat) from a post-hoc Q: Barber-Agakov and Fano.

x_hat is the decoder's mean image (sigmoid of Bernoulli logits, or the Gaussian mean; see
`pairs.py`), so the estimand is the information the decoded picture carries about the code.

Barber-Agakov: for any Q, I(t; x_hat) ≥ H(t) + E[log Q(t | x_hat)], the expectation over the joint
the pairs were drawn from. H(t) must be the entropy of that joint's code marginal:
- prior codes: the prior's entropy, log K for a categorical part, ½·d·log(2πe) for d Gaussian dims;
- posterior codes: the aggregate posterior q̄(t) = mean_x q(t|x) over the dataset. For categorical
  parts H(q̄) is exact (a sum over K, or over the ∏K joint table); with any Gaussian part it is a
  Monte-Carlo estimate, −log q̄(t_i) averaged over the held-out codes t_i ~ q̄, where q̄ is the
  exact N-component mixture (so that average is unbiased for H(q̄)).
The paper's version always uses the prior's entropy (log K). Under posterior codes it is reported
with valid=False: when q̄ is not uniform it is not a bound, and a collapsed encoder (q̄ one-hot)
scores the maximum, log K.

Fano: for a categorical part with K classes and Q's held-out error rate P_e,
I(c; x_hat) ≥ H(c) − h(P_e) − P_e·log(K − 1), with h the binary entropy.

Every bound is a mean of per-pair terms over the held-out pairs only, with the standard error of
that mean (H(q̄) itself is treated as exact for the given dataset).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from vmieval.distributions import prior_entropy
from vmieval.encoded import EncodedSplit
from vmieval.errors import UsageError
from vmieval.estimators.aggregate import joint_categorical_entropy, log_aggregate
from vmieval.estimators.config import MIConfig
from vmieval.estimators.estimate import Entropy, Estimate, mean_and_stderr
from vmieval.estimators.pairs import generate_pairs
from vmieval.estimators.qfit import EpochCallback, QCurve, evaluate_q, fit_q
from vmieval.frozen import FrozenVAE
from vmieval.qnet import QPart, q_parts
from vmieval.spec import Target, TargetPart

PAPER_NOTE = (
    "the paper's H = prior entropy (log K for a categorical block); not a valid bound when the aggregate "
    "posterior differs from the prior"
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


def q_bound(
    model: FrozenVAE,
    target: Target,
    config: MIConfig,
    generator: torch.Generator,
    split: EncodedSplit | None = None,
    on_epoch: EpochCallback | None = None,
) -> QBoundResult:
    """Fit Q on generated pairs and report the bounds on I(t; x_hat) on the held-out pairs.

    `split` is the encoded dataset: posterior codes are drawn from it and H(q̄) is read from it.
    """
    if config.codes == "posterior" and split is None:
        raise UsageError("posterior codes need an encoded split")
    spec, label, arch = model.spec, target.label(), config.q_arch
    posterior = split.posterior if split is not None and config.codes == "posterior" else None
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    pairs = generate_pairs(model, target, config.codes, config.samples, generator, posterior)
    n_fit, n_val, n_test = config.split_sizes()
    fit, val = pairs.select(slice(0, n_fit)), pairs.select(slice(n_fit, n_fit + n_val))
    test = pairs.select(slice(n_fit + n_val, None))
    seconds["generate"] = time.perf_counter() - t0

    parts = q_parts(spec, target)
    q, curve = fit_q(fit, val, parts, config, generator, on_epoch)
    seconds["fit"] = curve.seconds

    t0 = time.perf_counter()
    log_q, hits = evaluate_q(q, test)
    paper_h = prior_entropy(spec, target)
    h_terms, choice = entropy_terms(split if posterior is not None else None, target, test.codes, paper_h, config)
    params: dict[str, str | int | float] = {"q": arch, "codes": config.codes}
    if choice == "aggregate-mc":
        params["mixture"] = split.n  # type: ignore[union-attr]
    flags = (STILL_IMPROVING,) if curve.still_improving else ()
    note = f"Q was still improving at max_epochs={config.max_epochs}; the bound may be loose" if flags else ""

    def bound(part: str, terms: torch.Tensor | tuple[float, float], **kw: object) -> Estimate:
        value, se = mean_and_stderr(terms) if isinstance(terms, torch.Tensor) else terms
        fields = {"params": params, "flags": flags, "note": note, **kw}
        return Estimate("I(t;x_hat)", part, "decoder", "lower_bound", value=value, stderr=se, n=n_test,
                        split=config.split, **fields)  # type: ignore[arg-type]  # fmt: skip

    rows = [bound(label, h_terms + log_q, family="barber-agakov", entropy=choice)]
    if posterior is not None:
        note_paper = "; ".join(t for t in (PAPER_NOTE, note) if t)
        rows.append(
            bound(label, paper_h + log_q, family="barber-agakov", entropy="paper", valid=False, note=note_paper)
        )

    accuracy: dict[str, float] = {}
    for j, qpart, tpart, h_c in fano_parts(parts, target, split if posterior is not None else None):
        k = qpart.size
        accuracy[qpart.name] = float(hits[j].double().mean())
        fano = fano_bound(h_c, 1.0 - accuracy[qpart.name], k, n_test)
        rows.append(bound(tpart.label(), fano, family="fano", entropy="prior" if posterior is None else "aggregate",
                          params=params | {"accuracy": accuracy[qpart.name]}))  # fmt: skip
    seconds["score"] = time.perf_counter() - t0
    return QBoundResult(label, config.codes, arch, tuple(rows), curve, accuracy, float(h_terms.mean()), choice,
                        paper_h, n_fit, n_val, n_test, seconds)  # fmt: skip


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

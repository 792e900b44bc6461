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
from dataclasses import dataclass

import torch

from vmieval.distributions import Posterior, categorical_entropy, prior_entropy
from vmieval.estimators.aggregate import (
    aggregate_log_probs,
    joint_categorical_entropy,
    log_aggregate,
    target_posterior,
)
from vmieval.estimators.config import MIConfig
from vmieval.estimators.estimate import Estimate, mean_and_stderr
from vmieval.estimators.pairs import generate_pairs, posterior_rows
from vmieval.estimators.qfit import EpochCallback, QCurve, evaluate_q, fit_q
from vmieval.frozen import FrozenVAE
from vmieval.qnet import q_parts
from vmieval.spec import Target

PAPER_NOTE = "paper's H = log K (prior entropy); not a valid bound when the aggregate posterior is non-uniform"


@dataclass(frozen=True)
class QBoundResult:
    """Decoder-side rows for one target, plus how they were obtained: Q's curve, its held-out
    accuracy per categorical part, the H(t) used (`entropy`, and the paper's `paper_entropy`),
    the pair counts and the seconds spent per phase (generate, fit, score)."""

    target: str
    codes: str
    q_arch: str
    rows: tuple[Estimate, ...]
    curve: QCurve
    accuracy: dict[str, float]
    entropy: float
    entropy_estimator: str
    paper_entropy: float
    n_fit: int
    n_val: int
    n_test: int
    seconds: dict[str, float]

    def estimates(self) -> list[Estimate]:
        return list(self.rows)


def binary_entropy(p: float) -> float:
    return 0.0 if p <= 0.0 or p >= 1.0 else -(p * math.log(p) + (1 - p) * math.log1p(-p))


def fano_bound(h: float, p_err: float, k: int, n: int) -> tuple[float, float]:
    """H − h(P_e) − P_e·log(K−1) and its delta-method stderr from the binomial variance of P_e.

    The derivative of the bound in P_e is log(P_e / (1 − P_e)) − log(K − 1); it diverges at 0 and 1,
    so the stderr is evaluated at P_e moved half a count inside (0, 1).
    """
    value = h - binary_entropy(p_err) - p_err * math.log(k - 1)
    p = min(max(p_err, 0.5 / n), 1.0 - 0.5 / n)
    slope = math.log(p / (1.0 - p)) - math.log(k - 1)
    return value, abs(slope) * math.sqrt(p * (1.0 - p) / n)


def q_bound(
    model: FrozenVAE,
    target: Target,
    config: MIConfig,
    generator: torch.Generator,
    posterior: Posterior | None = None,
    on_epoch: EpochCallback | None = None,
) -> QBoundResult:
    """Fit Q on generated pairs and report the bounds on I(t; x_hat) on the held-out pairs.

    `posterior` is the dataset's encoded posterior (needed for posterior codes).
    """
    spec, label, arch = model.spec, target.label(), config.q_arch
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
    tpost = target_posterior(spec, posterior, target) if config.codes == "posterior" else None
    if tpost is None:
        h_terms = torch.full_like(log_q, paper_h)
        h_name = "H=prior entropy (codes from the prior)"
    elif (exact := joint_categorical_entropy(tpost)) is not None:
        h_terms = torch.full_like(log_q, exact)
        h_name = "H=exact H(mean_x q(c|x))"
    else:
        h_terms = -log_aggregate(tpost, test.codes, config.chunk)
        n = posterior_rows(posterior)  # type: ignore[arg-type]
        h_name = f"H=Monte Carlo mixture entropy; mean -log q_bar(t) of held-out codes, q_bar = mixture of N={n}"
    entropy = float(h_terms.mean())

    def bound(part_label: str, estimator: str, terms: torch.Tensor | tuple[float, float], **kw: object) -> Estimate:
        value, se = mean_and_stderr(terms) if isinstance(terms, torch.Tensor) else terms
        return Estimate(f"I({part_label}; x_hat)", part_label, "decoder", "lower_bound", estimator, value, se,
                        n_test, config.split, **kw)  # type: ignore[arg-type]  # fmt: skip

    rows = [bound(label, f"barber-agakov, Q={arch}, {h_name}", h_terms + log_q)]
    if tpost is not None:
        paper = f"barber-agakov, Q={arch}, H=prior entropy (paper)"
        rows.append(bound(label, paper, paper_h + log_q, valid=False, note=PAPER_NOTE))

    accuracy: dict[str, float] = {}
    for j, (qpart, tpart) in enumerate(zip(parts, target.parts, strict=True)):
        if qpart.kind != "categorical":
            continue
        k = qpart.size
        h_c = math.log(k) if tpost is None else float(categorical_entropy(aggregate_log_probs(tpost[j].logits)))
        accuracy[qpart.name] = float(hits[j].double().mean())
        h_text = "H=log K" if tpost is None else "H=exact H(mean_x q(c|x))"
        fano = f"fano, Q={arch} held-out accuracy {accuracy[qpart.name]:.4f}, {h_text}"
        rows.append(bound(tpart.label(), fano, fano_bound(h_c, 1.0 - accuracy[qpart.name], k, n_test)))
    seconds["score"] = time.perf_counter() - t0
    return QBoundResult(label, config.codes, arch, tuple(rows), curve, accuracy, entropy, h_name, paper_h,
                        n_fit, n_val, n_test, seconds)  # fmt: skip

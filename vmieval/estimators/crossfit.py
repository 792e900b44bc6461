"""The cross-fitted decoder-side bounds: Barber-Agakov, Fano and the other variational bounds, with
intervals that include the variance of fitting Q and of drawing the pairs (see `intervals.py`).

Pairs are generated once (as in `q_bound`), assigned to F folds grouped by source image, and each
fold is scored by a Q fitted on the other folds: the fit / validation shares of the rest keep the
ratio of `config.fractions`. Every bound is then a mean over all pairs, each scored exactly once by
a Q that never saw it, and its interval comes from the spread of the F fold values. The bounds and
their H(t) are those of `qbound.py`; the InfoNCE, NWJ and interpolated rows are those of
`variational.py`, with the fold's validation pairs fitting the NWJ baseline.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from vmieval.distributions import Posterior, categorical_entropy, prior_entropy
from vmieval.estimators.aggregate import aggregate_log_probs, joint_categorical_entropy, log_aggregate, target_posterior
from vmieval.estimators.config import MIConfig
from vmieval.estimators.estimate import Estimate, mean_and_stderr
from vmieval.estimators.intervals import Interval, fold_interval
from vmieval.estimators.pairs import GeneratedPairs, generate_pairs, posterior_rows
from vmieval.estimators.qbound import PAPER_NOTE, QBoundResult, fano_bound
from vmieval.estimators.qfit import EpochCallback, QCurve, evaluate_q, fit_q
from vmieval.estimators.variational import DEFAULT_BATCH, describe, variational_terms
from vmieval.frozen import FrozenVAE
from vmieval.qnet import q_parts
from vmieval.spec import Target

DEFAULT_FOLDS = 5


@dataclass(frozen=True)
class CrossFitBound(QBoundResult):
    """A `QBoundResult` whose rows are cross-fitted: `curve` is the first fold's Q curve, `curves`
    all F; `intervals` maps each row's estimator string to its Interval (stderr and its degrees of
    freedom); `fold_values` the per-fold values behind it."""

    folds: int = DEFAULT_FOLDS
    curves: tuple[QCurve, ...] = ()
    intervals: dict[str, Interval] = field(default_factory=dict)
    fold_values: dict[str, tuple[float, ...]] = field(default_factory=dict)


def assign_folds(owner: torch.Tensor, folds: int, generator: torch.Generator) -> torch.Tensor:
    """Fold index [S] per pair: by source image (all pairs of an image together), or at random for
    prior codes (owner −1); folds differ in size by at most one image's pairs."""
    if folds < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds, got {folds}")
    if bool((owner < 0).all()):
        return torch.randperm(owner.shape[0], generator=generator) % folds
    images = int(owner.max()) + 1
    image_fold = torch.randperm(images, generator=generator) % folds
    return image_fold[owner]


def _select(pairs: GeneratedPairs, idx: torch.Tensor) -> GeneratedPairs:
    dev = pairs.x_hat.device
    return GeneratedPairs(pairs.x_hat[idx.to(dev)], [c[idx] for c in pairs.codes], pairs.owner[idx], pairs.source)


def _entropy_terms(
    model: FrozenVAE, target: Target, config: MIConfig, posterior: Posterior | None, pairs: GeneratedPairs
) -> tuple[torch.Tensor, str, float, list | None]:
    """H(t) per pair [S] as in `q_bound` (prior entropy, exact aggregate, or Monte-Carlo mixture)."""
    spec = model.spec
    paper_h = prior_entropy(spec, target)
    tpost = target_posterior(spec, posterior, target) if config.codes == "posterior" else None
    shape = (len(pairs),)
    if tpost is None:
        return torch.full(shape, paper_h, dtype=torch.float64), "H=prior entropy (codes from the prior)", paper_h, None
    if (exact := joint_categorical_entropy(tpost)) is not None:
        return torch.full(shape, exact, dtype=torch.float64), "H=exact H(mean_x q(c|x))", paper_h, tpost
    n = posterior_rows(posterior)  # type: ignore[arg-type]
    name = f"H=Monte Carlo mixture entropy; mean -log q_bar(t) of held-out codes, q_bar = mixture of N={n}"
    return -log_aggregate(tpost, pairs.codes, config.chunk), name, paper_h, tpost


def crossfit_q_bound(
    model: FrozenVAE,
    target: Target,
    config: MIConfig,
    generator: torch.Generator,
    posterior: Posterior | None = None,
    folds: int = DEFAULT_FOLDS,
    batch: int = DEFAULT_BATCH,
    on_epoch: EpochCallback | None = None,
) -> CrossFitBound:
    """Cross-fitted bounds on I(t; x_hat) over `folds` folds (see the module docstring)."""
    spec, label, arch = model.spec, target.label(), config.q_arch
    seconds: dict[str, float] = {"fit": 0.0, "score": 0.0}
    t0 = time.perf_counter()
    pairs = generate_pairs(model, target, config.codes, config.samples, generator, posterior)
    fold_of = assign_folds(pairs.owner, folds, generator)
    h_terms, h_name, paper_h, tpost = _entropy_terms(model, target, config, posterior, pairs)
    seconds["generate"] = time.perf_counter() - t0

    parts = q_parts(spec, target)
    log_q = torch.empty(len(pairs), dtype=torch.float64)
    hits = [torch.zeros(len(pairs), dtype=torch.bool) for _ in parts]
    val_share = config.fractions[1] / (config.fractions[0] + config.fractions[1])
    curves: list[QCurve] = []
    var_terms: dict[str, list[torch.Tensor]] = {"infonce": [], "nwj": [], "interpolated": []}
    var_batches: dict[str, list[torch.Tensor]] = {k: [] for k in var_terms}
    described: dict[str, str] = {}
    sizes: list[tuple[int, int, int]] = []
    for f in range(folds):
        test_idx = (fold_of == f).nonzero().squeeze(1)
        rest = (fold_of != f).nonzero().squeeze(1)
        n_val = max(1, round(rest.shape[0] * val_share))
        fit, val = _select(pairs, rest[:-n_val]), _select(pairs, rest[-n_val:])
        test = _select(pairs, test_idx)
        q, curve = fit_q(fit, val, parts, config, generator, on_epoch)
        curves.append(curve)
        seconds["fit"] += curve.seconds
        t1 = time.perf_counter()
        fold_log_q, fold_hits = evaluate_q(q, test)
        log_q[test_idx] = fold_log_q
        for j, h in enumerate(fold_hits):
            if h.numel():
                hits[j][test_idx] = h
        vt = variational_terms(q, test, val, batch)
        for name in var_terms:
            var_terms[name].append(vt.terms[name])
            var_batches[name].append(vt.batch_means(name))
            described[name] = describe(name, vt, arch)  # the last fold's batch size names the row
        sizes.append((len(fit), len(val), len(test)))
        seconds["score"] += time.perf_counter() - t1

    fold_ids = [(fold_of == f).nonzero().squeeze(1) for f in range(folds)]
    intervals: dict[str, Interval] = {}
    fold_values: dict[str, tuple[float, ...]] = {}
    note = f"stderr: spread of {folds} cross-fitted folds (Q refitted per fold), widened to a 95% t interval"
    rows: list[Estimate] = []

    def add(part_label: str, estimator: str, value: float, within: float, per_fold: list[float], **kw) -> None:
        interval = fold_interval(per_fold, value, within)
        intervals[estimator], fold_values[estimator] = interval, tuple(per_fold)
        rows.append(Estimate(f"I({part_label}; x_hat)", part_label, "decoder", "lower_bound", estimator, value,
                             interval.reported_stderr, len(pairs), config.split, **kw))  # fmt: skip

    def add_terms(estimator: str, terms: torch.Tensor, **kw) -> None:
        value, within = mean_and_stderr(terms)
        add(label, estimator, value, within, [float(terms[i].mean()) for i in fold_ids], **kw)

    add_terms(f"barber-agakov, Q={arch}, {h_name}, {folds}-fold cross-fit", h_terms + log_q, note=note)
    if tpost is not None:
        paper = f"barber-agakov, Q={arch}, H=prior entropy (paper), {folds}-fold cross-fit"
        add_terms(paper, paper_h + log_q, valid=False, note=PAPER_NOTE)

    accuracy: dict[str, float] = {}
    for j, (qpart, tpart) in enumerate(zip(parts, target.parts, strict=True)):
        if qpart.kind != "categorical":
            continue
        k = qpart.size
        h_c = math.log(k) if tpost is None else float(categorical_entropy(aggregate_log_probs(tpost[j].logits)))
        accuracy[qpart.name] = float(hits[j].double().mean())
        value, within = fano_bound(h_c, 1.0 - accuracy[qpart.name], k, len(pairs))
        per_fold = [fano_bound(h_c, 1.0 - float(hits[j][i].double().mean()), k, i.shape[0])[0] for i in fold_ids]
        h_text = "H=log K" if tpost is None else "H=exact H(mean_x q(c|x))"
        fano = f"fano, Q={arch} held-out accuracy {accuracy[qpart.name]:.4f}, {h_text}, {folds}-fold cross-fit"
        add(tpart.label(), fano, value, within, per_fold, note=note)

    for name, chunks in var_terms.items():
        terms = torch.cat(chunks)
        batch_means = torch.cat(var_batches[name])
        value, within = float(terms.mean()), mean_and_stderr(batch_means)[1]
        add(label, f"{described[name]}, {folds}-fold cross-fit", value, within, [float(c.mean()) for c in chunks],
            note=note)  # fmt: skip
    n_fit, n_val, n_test = (round(sum(s[i] for s in sizes) / folds) for i in range(3))
    entropy = float(h_terms.mean())
    return CrossFitBound(label, config.codes, arch, tuple(rows), curves[0], accuracy, entropy, h_name, paper_h,
                         n_fit, n_val, n_test, seconds, folds, tuple(curves), intervals, fold_values)  # fmt: skip

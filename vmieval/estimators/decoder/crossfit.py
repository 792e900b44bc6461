"""The cross-fitted decoder-side bounds (the default): Barber-Agakov, Fano, InfoNCE, NWJ, interpolated.

Pairs [S] are made once and assigned to F folds by source image; fold f is scored by a Q fitted on
the others, so every pair is scored once by a Q that never saw it (Chernozhukov et al., "Double/debiased
machine learning", Econometrics Journal 2018). Steps: `fit_folds` -> `score_folds` (and the fresh pairs
that measure Q's fitting noise) -> rows (`rows.py`, plus the contrastive rows). Intervals:
`intervals.crossfit_interval`; the reasoning is in docs/estimators.md.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, replace

import torch

from vmieval.distributions import prior_entropy
from vmieval.encoded import EncodedSplit
from vmieval.errors import UsageError
from vmieval.estimators.config import MIConfig
from vmieval.estimators.decoder.bound import (
    QBoundResult,
    code_log_marginal,
    entropy_terms,
    fano_bound,
    fano_slope,
)
from vmieval.estimators.decoder.fit import QCurve, epoch_progress, evaluate_q, fit_q
from vmieval.estimators.decoder.intervals import FEW_TERMS, FEW_TERMS_NOTE, CrossFitInterval, crossfit_interval
from vmieval.estimators.decoder.pairs import GeneratedPairs, generate_pairs
from vmieval.estimators.decoder.plan import Progress, plan_line, seconds_per_pair
from vmieval.estimators.decoder.policy import FitPolicy, resolve_policy
from vmieval.estimators.decoder.qnet import QNetwork, QPart, q_parts
from vmieval.estimators.decoder.rows import RowMaker, Scores, q_params, q_rows
from vmieval.estimators.decoder.variational import DEFAULT_BATCH, variational_terms
from vmieval.estimators.estimate import Estimate, Family
from vmieval.frozen import FrozenVAE
from vmieval.spec import Target

DEFAULT_FOLDS = 5
FRESH_BATCHES = 32  # contrastive batches at least: the contrastive rows rest on these pairs alone


@dataclass(frozen=True)
class CrossFitBound(QBoundResult):
    """A `QBoundResult` whose rows are cross-fitted: `curve` is the first fold's Q curve, `curves`
    all F; `intervals` maps each row's key to its CrossFitInterval (raw stderr, its degrees of freedom,
    variance parts); `fold_values` the per-fold values behind it."""

    folds: int = DEFAULT_FOLDS
    curves: tuple[QCurve, ...] = ()
    intervals: dict[str, CrossFitInterval] = field(default_factory=dict)
    fold_values: dict[str, tuple[float, ...]] = field(default_factory=dict)
    plan: str = ""

    @property
    def still_improving(self) -> bool:
        return any(c.still_improving for c in self.curves)

    def to_dict(self) -> dict[str, object]:
        """QBoundResult's fields plus `folds` and, as one JSON string (an HDF5 attribute as it is),
        each row's raw stderr, degrees of freedom, 95% interval, variance parts and fold values, by row key."""
        out = super().to_dict()
        out["folds"] = self.folds
        out["plan"] = self.plan
        intervals = {
            key: {
                "stderr": i.stderr,
                "df": i.df if math.isfinite(i.df) else None,
                "low": i.low,
                "high": i.high,
                "variance_pairs": i.pairs,
                "variance_q_fit": i.q_fit,
                "variance_images": i.images,
                "variance_folds": i.folds,
                "folds": list(self.fold_values[key]),
            }
            for key, i in self.intervals.items()
        }
        out["intervals"] = json.dumps(intervals, sort_keys=True)
        return out


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


def fold_plan(fold_of: torch.Tensor, fold: int, val_share: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(held-out, fit, validation) pair indices of one fold: the rest is cut in index order, its
    last `val_share` validating (early stopping only, never fitted on)."""
    test_idx = (fold_of == fold).nonzero().squeeze(1)
    rest = (fold_of != fold).nonzero().squeeze(1)
    n_val = max(1, round(rest.shape[0] * val_share))
    return test_idx, rest[:-n_val], rest[-n_val:]


def fresh_count(samples: int, folds: int, batch: int = DEFAULT_BATCH) -> int:
    """Fresh pairs drawn beside the S fitted ones: S/F, and at least `FRESH_BATCHES` contrastive batches
    (their values and their pair variance come from these pairs only; docs/estimators.md)."""
    return max(samples // folds, FRESH_BATCHES * batch)


@dataclass(frozen=True)
class FoldFit:
    """One fold's Q, its curve, its held-out pair indices and validation pairs, and (fit, val, test) sizes."""

    q: QNetwork
    curve: QCurve
    test_idx: torch.Tensor
    val: GeneratedPairs
    sizes: tuple[int, int, int]


@dataclass(frozen=True)
class HeldOut:
    """Every pair scored by its own fold's Q: log Q [S] (float64) and per categorical part hits [S]."""

    log_q: torch.Tensor
    hits: list[torch.Tensor]


@dataclass(frozen=True)
class Fresh:
    """Every fold's Q on the same fresh pairs: per Q the mean log Q and the miss rate per part; per
    contrastive bound, per Q its mean, and per pair its term averaged over the Qs [n] (the first n
    fresh pairs: whole batches), with `owner` [n] their source images."""

    log_q: list[float]
    misses: list[list[float]]
    contrastive: dict[str, list[float]]
    terms: dict[str, torch.Tensor]
    owner: torch.Tensor
    params: dict[str, dict[str, str | int | float]]
    n: int


CONTRASTIVE: tuple[Family, ...] = ("infonce", "nwj", "interpolated")


def fit_folds(
    pairs: GeneratedPairs,
    fold_of: torch.Tensor,
    folds: int,
    parts: tuple[QPart, ...],
    config: MIConfig,
    generator: torch.Generator,
    progress: Progress | None = None,
    policy: FitPolicy | None = None,
) -> list[FoldFit]:
    """A fresh Q per fold, fitted and early-stopped on the other folds (`fold_plan`). Progress names
    the fold and counts its epochs; a fold that stops early ends at the epochs it ran."""
    val_share = config.fractions[1] / (config.fractions[0] + config.fractions[1])
    out: list[FoldFit] = []
    for f in range(folds):
        test_idx, fit_idx, val_idx = fold_plan(fold_of, f, val_share)
        fit, val = pairs.select(fit_idx), pairs.select(val_idx)
        q, curve = fit_q(fit, val, parts, config, generator, epoch_progress(progress, f"Q fit, fold {f + 1}/{folds}"),
                         policy)  # fmt: skip
        if progress is not None:
            progress(f"Q fit, fold {f + 1}/{folds}", len(curve.val_log_q), len(curve.val_log_q))
        out.append(FoldFit(q, curve, test_idx, val, (len(fit), len(val), test_idx.shape[0])))
    return out


def score_folds(fits: list[FoldFit], pairs: GeneratedPairs, parts: tuple[QPart, ...]) -> HeldOut:
    """Every pair scored by its own fold's Q."""
    log_q = torch.empty(len(pairs), dtype=torch.float64)
    hits = [torch.zeros(len(pairs), dtype=torch.bool) for _ in parts]
    for fold in fits:
        fold_log_q, fold_hits = evaluate_q(fold.q, pairs.select(fold.test_idx))
        log_q[fold.test_idx] = fold_log_q
        for j, h in enumerate(fold_hits):
            if h.numel():
                hits[j][fold.test_idx] = h
    return HeldOut(log_q, hits)


def score_fresh(fits: list[FoldFit], fresh: GeneratedPairs, parts: tuple[QPart, ...], batch: int) -> Fresh:
    """Every fold's Q on the same fresh pairs, which none was fitted or early-stopped on: on the same
    pairs the F scores differ only by the fit, so their spread measures Q's fitting noise. The
    contrastive bounds are scored here, in batches that mix every image (not one fold's)."""
    log_q: list[float] = []
    misses: list[list[float]] = [[] for _ in parts]
    contrastive: dict[str, list[float]] = {k: [] for k in CONTRASTIVE}
    terms: dict[str, list[torch.Tensor]] = {k: [] for k in CONTRASTIVE}
    params: dict[str, dict[str, str | int | float]] = {}
    for fold in fits:
        scores, hits = evaluate_q(fold.q, fresh)
        log_q.append(float(scores.mean()))
        for j, h in enumerate(hits):
            misses[j].append(float((~h).double().mean()) if h.numel() else math.nan)
        vt = variational_terms(fold.q, fresh, fold.val, batch)
        for name in CONTRASTIVE:
            contrastive[name].append(float(vt.terms[name].mean()))
            terms[name].append(vt.terms[name])
        critic = {"critic": "log Q(t|x_hat) - log p(t)" if fresh.log_marginal is not None else "log Q(t|x_hat)"}
        params = {
            "infonce": {"batch": vt.batch, "cap": vt.caps["infonce"], **critic},
            "nwj": {"batch": vt.batch, **critic},
            "interpolated": {"batch": vt.batch, "alpha": vt.alpha, "cap": vt.caps["interpolated"], **critic},
        }
    means = {k: torch.stack(v).mean(0) for k, v in terms.items()}
    n = int(next(iter(means.values())).shape[0])
    return Fresh(log_q, misses, contrastive, means, fresh.owner[:n], params, n)


def flag_few_terms(row: Estimate, interval: CrossFitInterval) -> Estimate:
    """The row, flagged `few_terms` when its interval's pair part has under `FEW_TERMS_DF` degrees of freedom."""
    if interval.few_terms:
        return row.with_flags(FEW_TERMS, note=FEW_TERMS_NOTE.format(df=interval.pairs_df))
    return row


def crossfit_q_bound(
    model: FrozenVAE,
    target: Target,
    config: MIConfig,
    generator: torch.Generator,
    split: EncodedSplit | None = None,
    folds: int = DEFAULT_FOLDS,
    batch: int = DEFAULT_BATCH,
    progress: Progress | None = None,
) -> CrossFitBound:
    """Cross-fitted bounds on I(t; x_hat) over `folds` folds (see the module docstring); `split` as in
    `q_bound` (posterior codes are drawn from it and H(q̄) is read from it)."""
    if config.codes == "posterior" and split is None:
        raise UsageError("posterior codes need an encoded split")
    spec, label = model.spec, target.label()
    posterior = split.posterior if split is not None and config.codes == "posterior" else None
    encoded = split if posterior is not None else None
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    n_fresh = fresh_count(config.samples, folds, batch)
    on_batch = (lambda done, total: progress("pairs", done, total)) if progress is not None else None
    policy = resolve_policy(config, tuple(spec.observation_shape), model.device)
    made = generate_pairs(
        model, target, config.codes, config.samples + n_fresh, generator, posterior, on_batch=on_batch,
        transform=policy.front,
    )  # fmt: skip
    made = replace(made, log_marginal=code_log_marginal(encoded, spec, target, made.codes, config.chunk))
    pairs, fresh_pairs = made.select(slice(0, config.samples)), made.select(slice(config.samples, None))
    fold_of = assign_folds(pairs.owner, folds, generator)
    paper_h = prior_entropy(spec, target)
    h_terms, choice = entropy_terms(encoded, target, pairs.codes, paper_h, config)
    seconds["generate"] = time.perf_counter() - t0

    parts = q_parts(spec, target)
    plan = plan_line(config, folds, seconds_per_pair(pairs, parts, config, policy.on_pooled()))
    if progress is not None:
        progress(plan, 1, 1)
    fits = fit_folds(pairs, fold_of, folds, parts, config, generator, progress, policy.on_pooled())
    seconds["fit"] = sum(f.curve.seconds for f in fits)
    t1 = time.perf_counter()
    if progress is not None:
        progress("scoring", 0, 1)
    held = score_folds(fits, pairs, parts)
    fresh = score_fresh(fits, fresh_pairs, parts, batch)
    seconds["score"] = time.perf_counter() - t1

    curves = tuple(f.curve for f in fits)
    still = any(c.still_improving for c in curves)
    make = RowMaker(label, config, q_params(config, choice, encoded, folds=folds, **policy.params()), still, len(pairs))
    owner, fold_ids = pairs.owner.numpy(), [(fold_of == f).nonzero().squeeze(1) for f in range(folds)]
    n_images = split.n if posterior is not None else None  # type: ignore[union-attr]

    def ba(terms: torch.Tensor) -> tuple[float, float, tuple[CrossFitInterval, list[float]]]:
        value, per_fold = float(terms.numpy().mean()), [float(terms[i].mean()) for i in fold_ids]
        interval = crossfit_interval(value, terms.numpy(), owner, fresh.log_q, per_fold, n_images)  # type: ignore[arg-type]
        return value, interval.reported_stderr, (interval, per_fold)

    def fano(j: int, h_c: float, hits: torch.Tensor, k: int, accuracy: float) -> tuple[float, float, object]:
        misses, s = (~hits).double(), len(pairs)
        value, within = fano_bound(h_c, 1.0 - accuracy, k, s)
        per_fold = [fano_bound(h_c, float(misses[i].mean()), k, i.shape[0])[0] for i in fold_ids]
        linear = fano_slope(1.0 - accuracy, k, s) * misses.numpy()  # delta method, per pair
        floor = within if bool((misses == misses[0]).all()) else 0.0  # no miss at all: half a count
        on_fresh = [fano_bound(h_c, m, k, len(fresh_pairs))[0] for m in fresh.misses[j]]
        interval = crossfit_interval(value, linear, owner, on_fresh, per_fold, n_images, floor)
        return value, interval.reported_stderr, (interval, per_fold)

    scores = Scores(held.log_q, held.hits, h_terms, choice, paper_h)
    rows, extras, accuracy = q_rows(make, scores, parts, target, encoded, ba, fano)
    for name in CONTRASTIVE:  # pairs drawn as for BA (clustered by image); the F Qs' spread is the fit's noise
        terms, per_q = fresh.terms[name], fresh.contrastive[name]
        value = float(terms.mean())
        interval = crossfit_interval(value, terms.numpy(), fresh.owner.numpy(), per_q, per_q, n_images)
        params = make.params | fresh.params[name] | {"pairs": "fresh"}
        rows.append(make.row(label, value, interval.reported_stderr, family=name, params=params, n=fresh.n))
        extras.append((interval, per_q))
    rows = [flag_few_terms(row, extra[0]) for row, extra in zip(rows, extras, strict=True)]
    intervals = {row.key: extra[0] for row, extra in zip(rows, extras, strict=True)}
    fold_values = {row.key: tuple(extra[1]) for row, extra in zip(rows, extras, strict=True)}
    n_fit, n_val, n_test = (round(sum(f.sizes[i] for f in fits) / folds) for i in range(3))
    entropy = float(h_terms.mean())
    return CrossFitBound(label, config.codes, config.q_arch, tuple(rows), curves[0], accuracy, entropy, choice, paper_h,
                         n_fit, n_val, n_test, seconds, folds, curves, intervals, fold_values, plan)  # fmt: skip

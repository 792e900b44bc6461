"""The cross-fitted decoder-side bounds: Barber-Agakov, Fano and the other variational bounds, with
intervals that include the variance of fitting Q and of drawing the pairs (see `intervals.py`).

Pairs are generated once (as in `q_bound`), assigned to F folds grouped by source image, and each
fold is scored by a Q fitted on the other folds: the fit / validation shares of the rest keep the
ratio of `config.fractions`. Every bound is then a mean over all pairs, each scored exactly once by
a Q that never saw it. Its interval (`intervals.crossfit_interval`) adds the spread of the terms
within images to the spread of the F Qs' scores on S/F fresh pairs that none of them was fitted or
early-stopped on; the values themselves never use those extra pairs. The bounds and
their H(t) are those of `qbound.py`; the InfoNCE, NWJ and interpolated rows are those of
`variational.py`, with the fold's validation pairs fitting the NWJ baseline.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from vmieval.distributions import prior_entropy
from vmieval.encoded import EncodedSplit
from vmieval.errors import UsageError
from vmieval.estimators.config import MIConfig
from vmieval.estimators.estimate import Estimate, Family
from vmieval.estimators.intervals import CrossFitInterval, crossfit_interval
from vmieval.estimators.pairs import GeneratedPairs, generate_pairs
from vmieval.estimators.qbound import (
    PAPER_NOTE,
    STILL_IMPROVING,
    QBoundResult,
    entropy_terms,
    fano_bound,
    fano_parts,
    fano_slope,
)
from vmieval.estimators.qfit import EpochCallback, QCurve, evaluate_q, fit_q
from vmieval.estimators.variational import DEFAULT_BATCH, variational_terms
from vmieval.frozen import FrozenVAE
from vmieval.qnet import QNetwork, q_parts
from vmieval.spec import Target

DEFAULT_FOLDS = 5


@dataclass(frozen=True)
class CrossFitBound(QBoundResult):
    """A `QBoundResult` whose rows are cross-fitted: `curve` is the first fold's Q curve, `curves`
    all F; `intervals` maps each row's key to its CrossFitInterval (raw stderr, its degrees of freedom,
    variance parts); `fold_values` the per-fold values behind it."""

    folds: int = DEFAULT_FOLDS
    curves: tuple[QCurve, ...] = ()
    intervals: dict[str, CrossFitInterval] = field(default_factory=dict)
    fold_values: dict[str, tuple[float, ...]] = field(default_factory=dict)

    @property
    def still_improving(self) -> bool:
        return any(c.still_improving for c in self.curves)

    def to_dict(self) -> dict[str, object]:
        """QBoundResult's fields plus `folds` and, as one JSON string (an HDF5 attribute as it is),
        each row's raw stderr, degrees of freedom, 95% interval, variance parts and fold values, by row key."""
        out = super().to_dict()
        out["folds"] = self.folds
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


def _copy(generator: torch.Generator) -> torch.Generator:
    copy = torch.Generator(device=generator.device)
    copy.set_state(generator.get_state())
    return copy


def _select(pairs: GeneratedPairs, idx: torch.Tensor) -> GeneratedPairs:
    dev = pairs.x_hat.device
    return GeneratedPairs(
        pairs.x_hat[idx.to(dev)],
        [c[idx] for c in pairs.codes],
        pairs.owner[idx],
        pairs.source,
    )


def crossfit_q_bound(
    model: FrozenVAE,
    target: Target,
    config: MIConfig,
    generator: torch.Generator,
    split: EncodedSplit | None = None,
    folds: int = DEFAULT_FOLDS,
    batch: int = DEFAULT_BATCH,
    on_epoch: EpochCallback | None = None,
) -> CrossFitBound:
    """Cross-fitted bounds on I(t; x_hat) over `folds` folds (see the module docstring); `split` as in
    `q_bound` (posterior codes are drawn from it and H(q̄) is read from it)."""
    if config.codes == "posterior" and split is None:
        raise UsageError("posterior codes need an encoded split")
    spec, label, arch = model.spec, target.label(), config.q_arch
    posterior = split.posterior if split is not None and config.codes == "posterior" else None
    seconds: dict[str, float] = {"fit": 0.0, "score": 0.0}
    t0 = time.perf_counter()
    pairs = generate_pairs(model, target, config.codes, config.samples, generator, posterior)
    fold_of = assign_folds(pairs.owner, folds, generator)
    paper_h = prior_entropy(spec, target)
    h_terms, choice = entropy_terms(split if posterior is not None else None, target, pairs.codes, paper_h, config)
    seconds["generate"] = time.perf_counter() - t0

    parts = q_parts(spec, target)
    log_q = torch.empty(len(pairs), dtype=torch.float64)
    hits = [torch.zeros(len(pairs), dtype=torch.bool) for _ in parts]
    val_share = config.fractions[1] / (config.fractions[0] + config.fractions[1])
    curves: list[QCurve] = []
    names: tuple[Family, ...] = ("infonce", "nwj", "interpolated")
    var_terms: dict[str, list[torch.Tensor]] = {k: [] for k in names}
    var_batches: dict[str, list[torch.Tensor]] = {k: [] for k in names}
    var_params: dict[str, dict[str, str | int | float]] = {}
    sizes: list[tuple[int, int, int]] = []
    plan = [fold_plan(fold_of, f, val_share) for f in range(folds)]
    fitted: list[tuple[QNetwork, GeneratedPairs]] = []
    for test_idx, fit_idx, val_idx in plan:
        fit, val, test = _select(pairs, fit_idx), _select(pairs, val_idx), _select(pairs, test_idx)
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
        for name in names:
            var_terms[name].append(vt.terms[name])
            var_batches[name].append(vt.batch_means(name))
        var_params = {
            "infonce": {"batch": vt.batch, "cap": vt.caps["infonce"]},
            "nwj": {"batch": vt.batch},
            "interpolated": {"batch": vt.batch, "alpha": vt.alpha, "cap": vt.caps["interpolated"]},
        }
        fitted.append((q, val))
        sizes.append((len(fit), len(val), len(test)))
        seconds["score"] += time.perf_counter() - t1

    # Q's fitting noise: every fold's Q scores the same fresh pairs, which none of them was fitted or
    # early-stopped on; drawn from a copy of the generator, so the caller's is left where it was.
    t1 = time.perf_counter()
    fresh = generate_pairs(model, target, config.codes, max(len(pairs) // folds, 4), _copy(generator), posterior)
    fresh_log_q: list[float] = []
    fresh_misses: list[list[float]] = [[] for _ in parts]
    fresh_var: dict[str, list[float]] = {k: [] for k in names}
    for q, val in fitted:
        fresh_scores, fresh_hits = evaluate_q(q, fresh)
        fresh_log_q.append(float(fresh_scores.mean()))
        for j, h in enumerate(fresh_hits):
            fresh_misses[j].append(float((~h).double().mean()) if h.numel() else math.nan)
        fresh_vt = variational_terms(q, fresh, val, batch)
        for name in names:
            fresh_var[name].append(float(fresh_vt.terms[name].mean()))
    seconds["score"] += time.perf_counter() - t1

    fold_ids = [(fold_of == f).nonzero().squeeze(1) for f in range(folds)]
    intervals: dict[str, CrossFitInterval] = {}
    fold_values: dict[str, tuple[float, ...]] = {}
    params: dict[str, str | int | float] = {
        "q": arch,
        "codes": config.codes,
        "folds": folds,
    }
    if choice == "aggregate-mc":
        params["mixture"] = split.n  # type: ignore[union-attr]
    still = any(c.still_improving for c in curves)
    flags = (STILL_IMPROVING,) if still else ()
    note = f"Q was still improving at max_epochs={config.max_epochs}; the bound may be loose" if still else ""
    rows: list[Estimate] = []

    owner = pairs.owner.numpy()
    n_images = split.n if posterior is not None else None  # type: ignore[union-attr]

    def add(part: str, value: float, interval: CrossFitInterval, per_fold: list[float], **kw: object) -> None:
        fields = {"params": params, "flags": flags, "note": note, **kw}
        row = Estimate("I(t;x_hat)", part, "decoder", "lower_bound", value=value, stderr=interval.reported_stderr,
                       n=len(pairs), split=config.split, **fields)  # type: ignore[arg-type]  # fmt: skip
        intervals[row.key], fold_values[row.key] = interval, tuple(per_fold)
        rows.append(row)

    def add_terms(terms: torch.Tensor, **kw: object) -> None:
        value, per_fold = float(terms.numpy().mean()), [float(terms[i].mean()) for i in fold_ids]  # as before
        interval = crossfit_interval(value, terms.numpy(), owner, fresh_log_q, per_fold, n_images)  # H(t): no spread
        add(label, value, interval, per_fold, **kw)

    add_terms(h_terms + log_q, family="barber-agakov", entropy=choice)
    if posterior is not None:
        paper_note = "; ".join(t for t in (PAPER_NOTE, note) if t)
        add_terms(
            paper_h + log_q,
            family="barber-agakov",
            entropy="paper",
            valid=False,
            note=paper_note,
        )

    accuracy: dict[str, float] = {}
    for j, qpart, tpart, h_c in fano_parts(parts, target, split if posterior is not None else None):
        k, misses = qpart.size, (~hits[j]).double()
        accuracy[qpart.name] = float(hits[j].double().mean())
        value, within = fano_bound(h_c, 1.0 - accuracy[qpart.name], k, len(pairs))
        per_fold = [fano_bound(h_c, float(misses[i].mean()), k, i.shape[0])[0] for i in fold_ids]
        linear = fano_slope(1.0 - accuracy[qpart.name], k, len(pairs)) * misses.numpy()  # delta method, per pair
        floor = within if bool((misses == misses[0]).all()) else 0.0  # no miss at all: half a count
        on_fresh = [fano_bound(h_c, m, k, len(fresh))[0] for m in fresh_misses[j]]
        interval = crossfit_interval(value, linear, owner, on_fresh, per_fold, n_images, floor)
        h_choice = "prior" if posterior is None else "aggregate"
        add(tpart.label(), value, interval, per_fold, family="fano", entropy=h_choice,
            params=params | {"accuracy": accuracy[qpart.name]})  # fmt: skip

    for name in names:  # each batch is one draw (its images share the batch's code marginal)
        terms, batch_means = torch.cat(var_terms[name]), torch.cat(var_batches[name])
        per_fold = [float(c.mean()) for c in var_terms[name]]
        value, alone = float(terms.mean()), np.full(batch_means.shape[0], -1)
        interval = crossfit_interval(value, batch_means.numpy(), alone, fresh_var[name], per_fold)
        add(label, value, interval, per_fold, family=name, params=params | var_params[name])
    n_fit, n_val, n_test = (round(sum(s[i] for s in sizes) / folds) for i in range(3))
    entropy = float(h_terms.mean())
    return CrossFitBound(label, config.codes, arch, tuple(rows), curves[0], accuracy, entropy, choice, paper_h,
                         n_fit, n_val, n_test, seconds, folds, tuple(curves), intervals, fold_values)  # fmt: skip

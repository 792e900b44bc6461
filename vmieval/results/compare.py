"""A comparison of several models' reports: one row per metric, one column per model, differences.

The metric rows are the summary a reader compares first (cluster accuracies, NMI/ARI, ELBO and
its KL terms, every MI estimate); each is looked up the same way in every report, and a metric a
model does not have (no categorical block, MI skipped) is NaN in its column, never zero. An MI row
is matched across models by its structured key (`mi:` + `Estimate.key`) and labelled with
`Estimate.label`: both are rendered from the estimate's fields, nothing is parsed back from text.
`difference[:, j]` is model j+1 minus the first model (with two models: B - A).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from vmieval.estimators.decoder.intervals import Difference, Interval, difference_interval
from vmieval.estimators.estimate import Estimate
from vmieval.results.report import Report


@dataclass(frozen=True)
class MetricRow:
    """`values`/`stderr` [n_models] (NaN: not available); `notes` [n_models] qualify a value
    (e.g. a k-means baseline, an invalid bound)."""

    key: str
    label: str
    unit: str
    values: tuple[float, ...]
    stderr: tuple[float, ...]
    notes: tuple[str, ...]

    @property
    def difference(self) -> tuple[float, ...]:
        return tuple(v - self.values[0] for v in self.values[1:])

    @property
    def differences(self) -> tuple[Difference, ...]:
        """Each model minus the first with its own stderr, 95% interval and whether that interval
        contains 0 (`within_noise`; None when a side has no stderr, e.g. cluster accuracies)."""
        base = Interval(self.values[0], self.stderr[0])
        pairs = zip(self.values[1:], self.stderr[1:], strict=True)
        return tuple(difference_interval(base, Interval(v, s)) for v, s in pairs)


@dataclass(frozen=True)
class Comparison:
    models: tuple[str, ...]
    rows: tuple[MetricRow, ...]

    def tree(self) -> dict[str, Any]:
        """The `comparison` group: metric keys and labels [M], values and stderr [M, n_models],
        difference, its stderr and within_noise (1: its 95% interval contains 0, 0: it does not,
        -1: no stderr to judge by) [M, n_models - 1]."""
        m = len(self.rows)
        return {
            "attrs": {"models": list(self.models), "baseline": self.models[0] if self.models else ""},
            "metric": [r.key for r in self.rows],
            "label": [r.label for r in self.rows],
            "unit": [r.unit for r in self.rows],
            "values": np.array([r.values for r in self.rows], dtype=np.float64).reshape(m, len(self.models)),
            "stderr": np.array([r.stderr for r in self.rows], dtype=np.float64).reshape(m, len(self.models)),
            "difference": np.array([r.difference for r in self.rows], dtype=np.float64).reshape(
                m, max(len(self.models) - 1, 0)
            ),
            "difference_stderr": np.array(
                [[d.stderr for d in r.differences] for r in self.rows], dtype=np.float64
            ).reshape(m, max(len(self.models) - 1, 0)),
            "within_noise": np.array(
                [[-1 if d.within_noise is None else int(d.within_noise) for d in r.differences] for r in self.rows],
                dtype=np.int8,
            ).reshape(m, max(len(self.models) - 1, 0)),
            "notes": [" | ".join(r.notes) for r in self.rows],
        }


Getter = Callable[[Report], tuple[float, float, str] | None]


def _cluster(attr: str) -> Getter:
    def get(r: Report) -> tuple[float, float, str] | None:
        if r.cluster is None:
            return None
        return getattr(r.cluster, attr), math.nan, "k-means baseline" if r.cluster.is_baseline else ""

    return get


def _elbo(attr: str) -> Getter:
    def get(r: Report) -> tuple[float, float, str] | None:
        if r.elbo is None or not math.isfinite(getattr(r.elbo, attr)):
            return None
        return getattr(r.elbo, attr), getattr(r.elbo, f"{attr}_stderr"), ""

    return get


def _kl(block: str) -> Getter:
    def get(r: Report) -> tuple[float, float, str] | None:
        if r.elbo is None or block not in r.elbo.kl_block:
            return None
        return r.elbo.kl_block[block], r.elbo.kl_block_stderr[block], ""

    return get


def _estimate(key: str) -> Getter:
    def get(r: Report) -> tuple[float, float, str] | None:
        for e in r.estimates:
            if metric_key(e) == key:
                return e.value, e.stderr, e.note if not e.valid or e.flags else ""
        return None

    return get


def _mig(attr: str) -> Getter:
    def get(r: Report) -> tuple[float, float, str] | None:
        if r.factors is None:
            return None
        score = getattr(r.factors, attr)
        return score.value, score.stderr, ""

    return get


def metric_key(e: Estimate) -> str:
    """The comparison's key of an MI row: stable across models (no values in it)."""
    return f"mi:{e.key}"


def _has_kl_bound(r: Report, block: str) -> bool:
    """Whether the estimators already report E_x KL(q(block|x) || p) as an upper bound on I_q."""
    return any(e.family == "kl" and e.side == "encoder" and e.target == block for e in r.estimates)


def metric_rows(reports: list[Report]) -> list[MetricRow]:
    """Every metric that at least one report has, in a fixed reading order."""
    specs: list[tuple[str, str, str, Getter]] = []
    for attr, label in (
        ("accuracy_hungarian", "cluster accuracy, Hungarian (one-to-one)"),
        ("accuracy_majority", "cluster accuracy, majority vote (mapping fitted on this split)"),
        ("nmi", "NMI"),
        ("ari", "ARI"),
    ):
        specs.append((f"cluster.{attr}", label, "fraction" if attr.startswith("acc") else "score", _cluster(attr)))
    blocks: list[str] = []
    for r in reports:
        for b in r.elbo.kl_block if r.elbo else {}:
            if b not in blocks:
                blocks.append(b)
    for b in blocks:
        if all(_has_kl_bound(r, b) for r in reports):
            continue  # the estimators' row "I_q(x; b) <= E_x KL(...)" is the same number, labelled as a bound
        specs.append((f"kl.{b}", f"E_x KL(q({b}|x) || p({b}))", "nats", _kl(b)))
    seen: dict[str, str] = {}
    for r in reports:
        for e in r.estimates:
            seen.setdefault(metric_key(e), e.label)
    for key, label in seen.items():
        specs.append((key, label, "nats", _estimate(key)))
    specs.append(("factors.mig", "MIG (Chen et al. 2018, Monte-Carlo I_q(z_j; v_k))", "fraction", _mig("mig")))
    specs.append(("factors.histogram_mig", "MIG, disentanglement_lib (20-bin histogram of means)", "fraction",
                  _mig("histogram_mig")))  # fmt: skip
    specs.append(("elbo", "ELBO", "nats/image", _elbo("elbo")))
    specs.append(("recon", "E log p(x|z)", "nats/image", _elbo("recon")))

    rows: list[MetricRow] = []
    for key, label, unit, get in specs:
        found = [get(r) for r in reports]
        if all(f is None for f in found):
            continue
        values = tuple(float(f[0]) if f else math.nan for f in found)
        stderr = tuple(float(f[1]) if f else math.nan for f in found)
        notes = tuple(f[2] if f else "n/a" for f in found)
        rows.append(MetricRow(key, label, unit, values, stderr, notes))
    return rows


def compare(reports: list[Report]) -> Comparison:
    return Comparison(tuple(r.name for r in reports), tuple(metric_rows(reports)))

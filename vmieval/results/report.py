"""`Report`: everything measured on one model, and the one tree every output is written from.

`Report.tree()` lays the report out as nested dicts: a dict is a group, its `"attrs"` entry the
group's attributes, any other entry a dataset (numpy array, number, string list) or a `GridLeaf`.
The HDF5 writer (`vmieval.results.hdf5`) and the JSON document (`vmieval.results.document`) both
walk this tree, so the two cannot drift apart; docs/report-schema.md describes it and a test reads
every documented path back. Groups are always present (with `available = False` and a `reason`
when an analysis does not apply to the model), so a reader never has to guess whether a missing
group means "not applicable" or "forgot".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vmieval.analysis.cluster import ClusterResult
from vmieval.analysis.contingency import CategoricalSummary
from vmieval.analysis.curves import TrainingCurves
from vmieval.analysis.elbo import ElboResult
from vmieval.analysis.traversals import Grid, Traversals
from vmieval.data import Dataset, ImageData
from vmieval.estimators.decoder.bound import QBoundResult
from vmieval.estimators.estimate import Estimate
from vmieval.estimators.factors import FactorReport, MIGScore
from vmieval.estimators.latents import LatentSummary
from vmieval.frozen import FrozenVAE

SCHEMA_VERSION = 2
MI_COLUMNS = (
    "key", "quantity", "estimand", "target", "side", "kind", "family", "entropy", "params", "label", "estimator",
    "value", "stderr", "n", "split", "valid", "note", "flags",
)  # fmt: skip
RESERVED_NAMES = ("attrs", "comparison")


@dataclass(frozen=True)
class ModelMeta:
    """Where the numbers came from: the checkpoint (path, hash, spec) and the data (name, split, N)."""

    name: str
    checkpoint: str
    sha256: str
    format: str
    architecture: str
    spec: dict[str, Any]
    seed: int
    dataset: str
    split: str
    n: int
    data_source: str = ""
    data_files: tuple[dict[str, Any], ...] = ()  # provenance: path, sha256, bytes of every file read
    device: str = ""

    @classmethod
    def from_model(cls, model: FrozenVAE, name: str, seed: int, data: ImageData | Dataset) -> ModelMeta:
        info = model.info
        source = data.source if isinstance(data.source, str) else data.source.origin()
        return cls(
            name=name,
            checkpoint=info.path,
            sha256=info.sha256,
            format=info.format,
            architecture=info.architecture,
            spec=model.spec.to_dict(),
            seed=int(seed),
            dataset=data.name,
            split=data.split,
            n=len(data),
            data_source=source,
            data_files=tuple(record.to_dict() for record in data.provenance),
            device=str(model.device),
        )

    def attrs(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "checkpoint": self.checkpoint,
            "sha256": self.sha256,
            "format": self.format,
            "architecture": self.architecture,
            "spec": json.dumps(self.spec, sort_keys=True),
            "seed": self.seed,
            "dataset": self.dataset,
            "split": self.split,
            "n": self.n,
            "data_source": self.data_source,
            "data_files": json.dumps(list(self.data_files)),
            "device": self.device,
        }


@dataclass(frozen=True)
class GridLeaf:
    """A traversal image in the tree: pixels [H, W, 3] uint8 in HDF5, shape and PNG path in JSON."""

    grid: Grid
    png: str = ""

    def attrs(self) -> dict[str, Any]:
        g = self.grid
        return {"title": g.title, "rows": g.rows, "cols": g.cols, "values": g.values, "png": self.png}


@dataclass
class Report:
    """One model's results. Every field but `meta` may be None/empty when not computed or not
    applicable; `notes` say why. `png` maps grid names to the files written for them."""

    meta: ModelMeta
    estimates: list[Estimate] = field(default_factory=list)
    q: QBoundResult | None = None
    elbo: ElboResult | None = None
    cluster: ClusterResult | None = None
    categorical: CategoricalSummary | None = None
    traversals: Traversals | None = None
    curves: TrainingCurves | None = None
    factors: FactorReport | None = None
    latents: LatentSummary | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    png: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.meta.name

    def tree(self) -> dict[str, Any]:
        """This model's group: attrs plus latents/, mi/, elbo/, kl/, cluster/, histograms/, traversals/,
        training/, factors/."""
        attrs = self.meta.attrs() | {"settings": json.dumps(self.settings, sort_keys=True, default=str)}
        return {
            "attrs": attrs,
            "latents": self.latents.tree()
            if self.latents is not None
            else self._absent("latents", "the model has no Gaussian block"),
            "mi": mi_tree(self.estimates, self.notes.get("mi", ""), self.q),
            "elbo": self._elbo_tree(),
            "kl": self._kl_tree(),
            "cluster": self._cluster_tree(),
            "histograms": self._histogram_tree(),
            "traversals": self._traversal_tree(),
            "training": self._training_tree(),
            "factors": self._factor_tree(),
        }

    def to_json(self) -> str:
        """The single-model JSON document (same keys as the HDF5 file); see `document`."""
        from vmieval.results.document import document, to_json

        return to_json(document([self]))

    # -- groups --------------------------------------------------------------------------------
    def _absent(self, key: str, default: str) -> dict[str, Any]:
        return {"attrs": {"available": False, "reason": self.notes.get(key, default)}}

    def _elbo_tree(self) -> dict[str, Any]:
        e = self.elbo
        if e is None:
            return self._absent("elbo", "not computed")
        return {
            "attrs": {"available": True, "split": e.split, "n": e.n, "samples": e.samples, "note": e.note},
            "elbo": e.elbo,
            "elbo_stderr": e.elbo_stderr,
            "recon": e.recon,
            "recon_stderr": e.recon_stderr,
        }

    def _kl_tree(self) -> dict[str, Any]:
        e = self.elbo
        if e is None:
            return self._absent("kl", "not computed")
        names = list(e.kl_block)
        return {
            "attrs": {"available": True, "split": e.split, "n": e.n, "estimator": "closed form, mean over images"},
            "block": names,
            "value": np.array([e.kl_block[b] for b in names], dtype=np.float64),
            "stderr": np.array([e.kl_block_stderr[b] for b in names], dtype=np.float64),
            "per_dim": {"attrs": {}, **{b: np.asarray(v, dtype=np.float64) for b, v in e.kl_per_dim.items()}},
        }

    def _cluster_tree(self) -> dict[str, Any]:
        c, cat = self.cluster, self.categorical
        if c is None:
            return self._absent("cluster", "not computed")
        out: dict[str, Any] = {
            "attrs": {
                "available": True,
                "method": c.method,
                "baseline": c.is_baseline,
                "block": c.block or "",
                "split": c.split,
                "n": c.n,
                "n_clusters": c.n_clusters,
                "n_classes": c.n_classes,
                "note": self.notes.get("cluster", ""),
            },
            "accuracy_hungarian": c.accuracy_hungarian,
            "accuracy_majority": c.accuracy_majority,
            "nmi": c.nmi,
            "ari": c.ari,
            "assignments": c.assignments,
            "mapping_hungarian": c.mapping_hungarian,
            "mapping_majority": c.mapping_majority,
        }
        if cat is not None and cat.contingency is not None:
            out["contingency"] = cat.contingency.counts
            out["contingency_labels"] = cat.contingency.labels
        return out

    def _histogram_tree(self) -> dict[str, Any]:
        cat = self.categorical
        if cat is None:
            return self._absent("categorical", "the model has no categorical block")
        h = cat.histograms
        return {"attrs": {"available": True, "block": h.block, "split": h.split}, "edges": h.edges, "counts": h.counts}

    def _traversal_tree(self) -> dict[str, Any]:
        t = self.traversals
        if t is None:
            return self._absent("traversals", "not computed")
        out: dict[str, Any] = {
            "attrs": {"available": True, "split": t.split, "grids": [g.name for g in t.grids]},
            "sample_indices": t.sample_indices,
        }
        for g in t.grids:
            out[g.name] = GridLeaf(g, self.png.get(g.name, ""))
        return out

    def _factor_tree(self) -> dict[str, Any]:
        if self.factors is None:
            return self._absent("factors", "the data has no ground-truth factors")
        return factor_tree(self.factors)

    def _training_tree(self) -> dict[str, Any]:
        c = self.curves
        if c is None or c.n_epochs == 0:
            return self._absent("training", "the checkpoint has no training history")
        columns = {k: v for k, v in c.columns.items() if k != "attrs"}
        return {"attrs": {**c.meta, "available": True, "n_epochs": c.n_epochs}, **columns}


def _mig_tree(score: MIGScore) -> dict[str, Any]:
    return {
        "attrs": {"estimator": score.estimator, "skipped": list(score.skipped)},
        "value": score.value,
        "stderr": score.stderr,
        "gaps": np.asarray(score.gaps, dtype=np.float64),
        "gap_stderr": np.asarray(score.gap_stderr, dtype=np.float64),
        "top_two": np.asarray(score.top_two, dtype=np.int64),
    }


def factor_tree(f: FactorReport) -> dict[str, Any]:
    """The `factors/` group: the [D, F] Monte-Carlo matrix I_q(z_j; v_k) with stderr and chance level,
    H(v_k), I_q(x; z_j), MIG, and disentanglement_lib's histogram matrix and MIG (labelled as such)."""
    mi = f.mi
    return {
        "attrs": {
            "available": True,
            "split": mi.split,
            "n": mi.n,
            "unit": "nats",
            "estimator": mi.estimator,
            "near_cap": list(mi.near_cap),
        },  # fmt: skip
        "latent": list(mi.latent_names),
        "factor": list(mi.factor_names),
        "mi": np.asarray(mi.values, dtype=np.float64),
        "mi_stderr": np.asarray(mi.stderr, dtype=np.float64),
        "mi_chance": np.asarray(mi.null_values, dtype=np.float64),
        "factor_entropy": np.asarray(mi.factor_entropy, dtype=np.float64),
        "latent_info": np.asarray(mi.latent_info, dtype=np.float64),
        "latent_info_stderr": np.asarray(mi.latent_info_stderr, dtype=np.float64),
        "mig": _mig_tree(f.mig),
        "histogram_mi": np.asarray(f.histogram_mi, dtype=np.float64),
        "histogram_mig": _mig_tree(f.histogram_mig),
    }


def mi_tree(estimates: list[Estimate], note: str = "", q: QBoundResult | None = None) -> dict[str, Any]:
    """The `mi/` group: one column dataset per `Estimate.to_dict` field, one row per estimate, and
    `q/` (how the post-hoc Q was fitted) when there is a decoder-side bound."""
    rows = [e.to_dict() for e in estimates]
    out: dict[str, Any] = {"attrs": {"rows": len(rows), "unit": "nats", "note": note}}
    for col in MI_COLUMNS:
        values = [r[col] for r in rows]
        if col in ("value", "stderr"):
            out[col] = np.array(values, dtype=np.float64)
        elif col == "n":
            out[col] = np.array(values, dtype=np.int64)
        elif col == "valid":
            out[col] = np.array(values, dtype=bool)
        else:
            out[col] = [str(v) for v in values]
    if q is not None:
        out["q"] = q_tree(q)
    return out


def q_tree(q: QBoundResult) -> dict[str, Any]:
    """The `mi/q/` group: Q's settings and pair counts (attrs) and its per-epoch curve."""
    curve = q.curve
    attrs = {k: v for k, v in q.to_dict().items() if k not in ("curve", "accuracy")}
    attrs["accuracy"] = json.dumps(q.accuracy, sort_keys=True)
    for name in ("best_epoch", "max_epochs", "stopped_early", "seconds"):
        attrs[name] = getattr(curve, name)
    return {
        "attrs": attrs,
        "train_nll": np.array(curve.train_nll, dtype=np.float64),
        "val_log_q": np.array(curve.val_log_q, dtype=np.float64),
    }


def unique_names(stems: list[str], paths: list[str] | None = None) -> list[str]:
    """Group names for models: the checkpoint stems, made unique and kept clear of reserved keys.

    When `paths` are given and stems collide (runs/beta4/seed1/model.pt, runs/beta8/seed1/model.pt),
    each colliding name is built from the parts of its path that differ (`beta4-seed1-model`,
    `beta8-seed1-model`); what is still equal gets `-2`, `-3`, ..."""
    if paths is not None and len(set(stems)) < len(stems):
        stems = _names_from_paths(stems, paths)
    out: list[str] = []
    for stem in stems:
        base = stem.replace("/", "_") or "model"
        base = f"{base}_model" if base in RESERVED_NAMES else base
        name, i = base, 2
        while name in out:
            name, i = f"{base}-{i}", i + 1
        out.append(name)
    return out


def _names_from_paths(stems: list[str], paths: list[str]) -> list[str]:
    """Each colliding stem prefixed with its folders below the ones all paths of that stem share."""
    import os.path
    from pathlib import PurePath

    out = list(stems)
    for stem in set(stems):
        group = [i for i, s in enumerate(stems) if s == stem]
        if len(group) < 2:
            continue
        folders = [PurePath(os.path.abspath(paths[i])).parent.parts for i in group]
        common = len(os.path.commonprefix(folders))
        for i, parts in zip(group, folders, strict=True):
            out[i] = "-".join([*parts[common:], stem])
    return out

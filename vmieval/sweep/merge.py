"""Merge reports into one sweep table, reading `report.h5` files only (never recomputing).

`merge_paths` takes sweep folders (their `plan.json` says which cache entries are current, which failed and
which never finished), report folders holding a `report.h5`, or `report.h5` files (a comparison file gives a
row per model). Everything a row needs is in the file: the model's attributes, its MI rows, ELBO and KL, cluster
scores, MIG, and the hyper-parameters a sweep stored (`/<model>/hyperparameters`); a file written by
`vmieval report` has none stored, so they are read from its checkpoint path (and `--name-from`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import h5py

from vmieval.errors import UsageError
from vmieval.sweep import cache
from vmieval.sweep.hyperparams import path_hyperparameters
from vmieval.sweep.plan import path_tails
from vmieval.sweep.table import IDENTITY, STDERR, SweepTable


def _float(value: Any) -> float:
    value = float(value)
    return value if math.isfinite(value) else math.nan


def _text(values: Any) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _numbers(group: h5py.Group) -> tuple[dict[str, float], dict[str, str]]:
    """Value and stderr columns of one model group, and the short labels of the MI rows."""
    out: dict[str, float] = {}
    labels: dict[str, str] = {}
    mi = group.get("mi")
    if mi is not None and "key" in mi:
        for key, label, value, stderr in zip(
            _text(mi["key"][()]), _text(mi["label"][()]), mi["value"][()], mi["stderr"][()], strict=True
        ):
            column = "mi:" + key.replace("/", "|")
            out[column], out[column + STDERR] = _float(value), _float(stderr)
            labels[column] = label
    elbo = group.get("elbo")
    if elbo is not None and "elbo" in elbo:
        for name in ("elbo", "recon"):
            out[name], out[name + STDERR] = _float(elbo[name][()]), _float(elbo[name + "_stderr"][()])
            labels[name] = name.upper() if name == "elbo" else "reconstruction"
    kl = group.get("kl")
    if kl is not None and "block" in kl:
        for block, value, stderr in zip(_text(kl["block"][()]), kl["value"][()], kl["stderr"][()], strict=True):
            out[f"kl:{block}"], out[f"kl:{block}{STDERR}"] = _float(value), _float(stderr)
            labels[f"kl:{block}"] = f"KL({block})"
    cluster = group.get("cluster")
    if cluster is not None:
        for name in ("accuracy_hungarian", "accuracy_majority", "nmi", "ari"):
            if name in cluster:
                out[f"cluster:{name}"], out[f"cluster:{name}{STDERR}"] = _float(cluster[name][()]), math.nan
                labels[f"cluster:{name}"] = (
                    name.replace("accuracy_", "acc ").upper()
                    if name in ("nmi", "ari")
                    else (name.replace("accuracy_", "acc (") + ")")
                )
    factors = group.get("factors")
    if factors is not None:
        for name, item in factors.items():
            if isinstance(item, h5py.Group) and "value" in item and "stderr" in item:
                out[f"factors:{name}"], out[f"factors:{name}{STDERR}"] = (
                    _float(item["value"][()]),
                    _float(item["stderr"][()]),
                )
    return out, labels


def _stored_hyper(group: h5py.Group) -> dict[str, Any] | None:
    stored = group.get(cache.HYPER_GROUP)
    if stored is None:
        return None
    return {k: (v.decode() if isinstance(v, bytes) else v.item() if hasattr(v, "item") else v)
            for k, v in stored.attrs.items()}  # fmt: skip


def read_report(path: str | Path) -> list[dict[str, Any]]:
    """A row per model group of one report.h5: identity, stored hyper-parameters (None if none), numbers."""
    rows = []
    try:
        with h5py.File(path, "r") as f:
            for name in _text(f.attrs.get("models", [])):
                group = f[name]
                a = group.attrs
                text = {k: (a[k].decode() if isinstance(a[k], bytes) else a[k]) for k in a}
                row: dict[str, Any] = {
                    "model": name,
                    "status": "done",
                    "error": "",
                    "checkpoint": str(text.get("checkpoint", "")),
                    "sha256": str(text.get("sha256", "")),
                    "key": str(text.get("sweep_key", "")),
                    "dataset": str(text.get("dataset", "")),
                    "split": str(text.get("split", "")),
                    "n": int(text.get("n", 0)),
                    "report_seed": int(text.get("seed", 0)),
                    "seconds": float(text["sweep_seconds"]) if "sweep_seconds" in text else None,
                    "worker": str(text.get("sweep_worker", "")),
                }
                numbers, labels = _numbers(group)
                row["hyper"] = _stored_hyper(group)
                row["numbers"], row["labels"] = numbers, labels
                rows.append(row)
    except (OSError, KeyError) as exc:
        raise UsageError(f"{path}: not a readable vmieval report.h5 ({exc})") from None
    return rows


def _sweep_rows(folder: Path, name_from: str | None) -> list[dict[str, Any]]:
    rows = []
    for job in cache.read_plan(folder)["jobs"]:
        key, name = job["key"], job["name"]
        h5 = cache.entry(folder, key) / cache.REPORT_H5
        if h5.is_file():
            for row in read_report(h5):
                row["model"] = name
                rows.append(row)
            continue
        error = cache.failure(folder, key)
        status = "failed" if error is not None else "pending"
        hyper = path_hyperparameters(job["checkpoint"], name_from, job.get("tail"))
        rows.append({"model": name, "status": status, "error": error or "", "checkpoint": job["checkpoint"],
                     "key": key, "hyper": hyper, "numbers": {}, "labels": {}})  # fmt: skip
    return rows


def merge_paths(paths: list[str | Path], name_from: str | None = None) -> SweepTable:
    """One table from sweep folders, report folders and report.h5 files, in the order given."""
    rows: list[dict[str, Any]] = []
    for item in map(Path, paths):
        if (item / cache.PLAN).is_file():
            rows += _sweep_rows(item, name_from)
        elif (item / cache.REPORT_H5).is_file():
            rows += read_report(item / cache.REPORT_H5)
        elif item.is_file():
            rows += read_report(item)
        else:
            raise UsageError(f"{item}: neither a sweep folder, a report folder nor a report.h5 file")
    bare = [row for row in rows if row["hyper"] is None]  # written by `vmieval report`: read the paths
    if bare:
        tails = path_tails([row["checkpoint"] or row["model"] for row in bare])
        for row, tail in zip(bare, tails, strict=True):
            row["hyper"] = path_hyperparameters(row["checkpoint"], name_from, tail)
    return assemble(rows)


def assemble(rows: list[dict[str, Any]]) -> SweepTable:
    """Column order and names: hyper-parameters by first appearance, metrics by first appearance."""
    table = SweepTable()
    seen: set[str] = set()
    for row in rows:
        base = row["model"]
        name, i = base, 2
        while name in seen:
            name, i = f"{base}-{i}", i + 1
        seen.add(name)
        out = {c: row.get(c) for c in IDENTITY} | {"model": name}
        for key, value in row["hyper"].items():
            column = f"hp:{key}" if key in IDENTITY else key
            out[column] = value
            if column not in table.hyper:
                table.hyper.append(column)
        for column, value in row["numbers"].items():
            out[column] = value
            if not column.endswith(STDERR) and column not in table.metrics:
                table.metrics.append(column)
        table.labels |= row["labels"]
        table.rows.append(out)
    return table


def summary(table: SweepTable) -> dict[str, int]:
    statuses = [row["status"] for row in table.rows]
    return {s: statuses.count(s) for s in ("done", "failed", "pending")}

"""Reports: the documented HDF5 schema read back with plain h5py, JSON parity, comparison, writes."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from vmieval.architectures import build_architecture
from vmieval.data import load_images
from vmieval.encoded import encode_split
from vmieval.errors import OutputError
from vmieval.estimators.config import MIConfig
from vmieval.estimators.mi import estimate_mi
from vmieval.frozen import CheckpointInfo, FrozenVAE
from vmieval.results import (
    SCHEMA_VERSION,
    ModelMeta,
    Report,
    ReportConfig,
    build_report,
    compare,
    document,
    mi_document,
    to_json,
    unique_names,
    write_document,
    write_outputs,
    write_reports,
)
from vmieval.spec import ModelSpec, categorical, gaussian

SCHEMA_DOC = Path(__file__).resolve().parent.parent / "docs" / "report-schema.md"
SMALL = ReportConfig(seed=0, mi=MIConfig(samples=200, max_epochs=2, patience=1, q_hidden=32, folds=2))
HISTORY = [{"epoch": 1, "elbo": -300.0, "kl": {"c": 0.1}}, {"epoch": 2, "elbo": -250.0, "kl": {"c": 0.3}}]


def model(spec: ModelSpec, seed: int, history: list | None = None) -> FrozenVAE:
    torch.manual_seed(seed)
    module = build_architecture("mlp", {"hidden": [16]}, spec)
    info = CheckpointInfo(
        f"/ckpt/m{seed}.pt", "vmieval-native", f"{seed:064d}", "mlp", {"training": {"history": history or []}}
    )
    return FrozenVAE.from_module(module, spec, info)


@pytest.fixture(scope="module")
def reports() -> list[Report]:
    """Two small joint models on 120 sample images (the second with a training history)."""
    spec = ModelSpec((1, 28, 28), (gaussian("z", 3), categorical("c", 10)))
    data = load_images("mnist-sample", "test", limit=120)
    return [
        build_report(model(spec, 0), data, "a", SMALL),
        build_report(model(spec, 1, HISTORY), data, "b", SMALL),
    ]


def documented_paths(model_name: str, grid: str) -> list[tuple[str, str | None]]:
    """(object path, attribute or None) for every path in the schema tables of the doc."""
    fill = {"<model>": model_name, "<block>": "z", "<grid>": grid, "<column>": "epoch"}
    out = []
    for line in SCHEMA_DOC.read_text().splitlines():
        if not line.startswith("| `/"):
            continue
        for token in re.findall(r"`(/[^`]*)`", line.split("|")[1]):
            for key, value in fill.items():
                token = token.replace(key, value)
            obj, _, attr = token.partition("@")
            out.append((obj.rstrip("/") or "/", attr or None))
    return out


def test_every_documented_path_exists(reports: list[Report], tmp_path: Path) -> None:
    written = write_outputs(reports, tmp_path / "out", argv=["vmieval", "report"])
    grid = reports[1].traversals.grids[-1].name
    paths = documented_paths("b", grid)
    assert len(paths) > 60  # the doc's tables were found
    with h5py.File(written.h5, "r") as f:
        for obj, attr in paths:
            assert obj in f, f"documented path {obj} missing"
            if attr is not None:
                assert attr in f[obj].attrs, f"documented attribute {obj}@{attr} missing"
        assert f.attrs["schema_version"] == SCHEMA_VERSION
        assert [m.decode() if isinstance(m, bytes) else m for m in f.attrs["models"]] == ["a", "b"]
        assert json.loads(f.attrs["argv"]) == ["vmieval", "report"]
        assert json.loads(f["b"].attrs["spec"])["blocks"][1] == {"kind": "categorical", "name": "c", "size": 10}
        mi = f["b/mi"]
        rows = int(mi.attrs["rows"])
        assert rows > 0 and all(mi[c].shape == (rows,) for c in ("key", "quantity", "value", "valid", "flags"))
        assert set(mi["side"].asstr()[()]) == {"encoder", "decoder"}
        keys = mi["key"].asstr()[()].tolist()
        assert len(set(keys)) == rows and "I(t;x_hat)/c/lower_bound/barber-agakov/aggregate" in keys
        assert all(isinstance(json.loads(p), dict) for p in mi["params"].asstr()[()])
        assert mi["q"].attrs["n_test"] > 0 and mi["q/val_log_q"].shape[0] >= mi["q"].attrs["best_epoch"] >= 1
        assert f["b/cluster/contingency"][()].sum() == 120
        assert f["b/histograms/counts"][()].sum(axis=1).tolist() == [120] * 10
        pixels = f[f"b/traversals/{grid}"]
        assert pixels.dtype == np.uint8 and pixels.shape[-1] == 3
        assert Path(pixels.attrs["png"]).is_file()
        np.testing.assert_array_equal(f["b/training/elbo"][()], [-300.0, -250.0])
        assert f["a/training"].attrs["available"] == False  # noqa: E712 - numpy bool
        assert f["comparison/values"].shape == (len(f["comparison/metric"]), 2)


def _keys(node: object, prefix: str = "") -> set[str]:
    if isinstance(node, dict):
        out = set()
        for k, v in node.items():
            out.add(f"{prefix}/{k}")
            if k != "attrs":
                out |= _keys(v, f"{prefix}/{k}")
        return out
    return set()


def test_json_has_the_same_keys_as_the_file(reports: list[Report], tmp_path: Path) -> None:
    tree = document(reports)
    doc = json.loads(to_json(tree))  # strict JSON: no NaN literals
    path = write_reports(tmp_path / "r.h5", reports)
    h5_keys: set[str] = set()
    with h5py.File(path, "r") as f:
        f.visit(lambda name: h5_keys.add("/" + name))
    json_keys = {k for k in _keys(doc) if not k.endswith("/attrs") and "/attrs/" not in k}
    grid_parts = {k for k in json_keys if "/traversals/" in k and k.rsplit("/", 1)[1] in ("shape", "png")}
    assert json_keys - grid_parts == h5_keys
    assert doc["a"]["cluster"]["attrs"]["split"] == "test"
    single = json.loads(reports[0].to_json())
    assert set(single) == {"attrs", "a"} and set(single["a"]) == set(doc["a"])
    assert doc["attrs"]["schema_version"] == SCHEMA_VERSION


def test_comparison_difference_is_b_minus_a(reports: list[Report]) -> None:
    c = compare(reports)
    assert c.models == ("a", "b")
    row = next(r for r in c.rows if r.key == "cluster.accuracy_hungarian")
    assert row.difference[0] == pytest.approx(
        reports[1].cluster.accuracy_hungarian - reports[0].cluster.accuracy_hungarian
    )
    keys = [r.key for r in c.rows]
    assert len(keys) == len(set(keys))
    assert "elbo" in keys and "mi:I(t;x_hat)/c/lower_bound/barber-agakov/aggregate" in keys
    by_key = {e.key: e for e in reports[0].estimates}
    for row in c.rows:
        if row.key.startswith("mi:"):  # labels are rendered from the same row, never parsed
            assert row.label == by_key[row.key.removeprefix("mi:")].label
    paper = [r for r in c.rows if "not a valid bound" in r.label]
    assert paper and all(n for n in paper[0].notes)


def test_metric_missing_for_one_model_is_nan_not_zero(reports: list[Report]) -> None:
    spec = ModelSpec((1, 28, 28), (gaussian("z", 3),))
    data = load_images("mnist-sample", "test", limit=60)
    only_z = build_report(model(spec, 2), data, "z_only", ReportConfig(mi=None))
    assert only_z.cluster is not None and only_z.cluster.is_baseline
    assert only_z.categorical is None and "mi" in only_z.notes
    c = compare([reports[0], only_z])
    kl_c = next(r for r in c.rows if "I_q(x; c)" in r.label)
    assert math.isnan(kl_c.values[1]) and kl_c.notes[1] == "n/a" and math.isnan(kl_c.difference[0])
    tree = only_z.tree()
    assert tree["histograms"]["attrs"]["available"] is False and tree["histograms"]["attrs"]["reason"]
    assert "grids" in tree["traversals"]["attrs"] and "categories_c" not in tree["traversals"]


def test_existing_report_is_not_overwritten_without_force(reports: list[Report], tmp_path: Path) -> None:
    path = write_reports(tmp_path / "r.h5", reports[:1])
    before = path.read_bytes()
    with pytest.raises(OutputError, match="--force"):
        write_reports(path, reports)
    assert path.read_bytes() == before
    write_reports(path, reports, force=True)
    with h5py.File(path, "r") as f:
        assert "comparison" in f
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_mi_document_has_the_report_keys_and_rows(reports: list[Report], tmp_path: Path) -> None:
    """`mi-bound`'s document (JSON and --out) uses the report's `mi/` keys; with the report's seed
    and settings it holds the same rows."""
    spec = ModelSpec((1, 28, 28), (gaussian("z", 3), categorical("c", 10)))
    data = load_images("mnist-sample", "test", limit=120)
    m = model(spec, 0)
    result = estimate_mi(m, encode_split(m, data), SMALL.mi)
    meta = ModelMeta.from_model(m, "a", 0, data)
    tree = mi_document(result, meta, argv=["vmieval", "mi-bound"])
    report_mi = json.loads(to_json(document(reports)))["a"]["mi"]
    mi_only = json.loads(to_json(tree))["a"]["mi"]
    assert set(mi_only) == set(report_mi) and mi_only["key"] == report_mi["key"]
    assert mi_only["value"] == report_mi["value"] and mi_only["q"]["val_log_q"] == report_mi["q"]["val_log_q"]
    path = write_document(tmp_path / "mi.h5", tree)
    with h5py.File(path, "r") as f:
        assert f.attrs["schema_version"] == SCHEMA_VERSION
        assert f["a"].attrs["seed"] == 0 and set(f["a"]) == {"mi"}
        assert f["a/mi/key"].asstr()[()].tolist() == report_mi["key"]
        assert json.loads(f["a"].attrs["settings"])["mi"]["samples"] == SMALL.mi.samples
    with pytest.raises(OutputError):
        write_document(path, tree)


def test_stage_seeds_make_reports_reproducible(reports: list[Report]) -> None:
    data = load_images("mnist-sample", "test", limit=120)
    spec = ModelSpec((1, 28, 28), (gaussian("z", 3), categorical("c", 10)))
    again = build_report(model(spec, 0), data, "a", SMALL)
    assert [e.value for e in again.estimates] == [e.value for e in reports[0].estimates]
    np.testing.assert_array_equal(again.traversals.sample_indices, reports[0].traversals.sample_indices)
    assert again.elbo.elbo == reports[0].elbo.elbo


def test_unique_names() -> None:
    assert unique_names(["m", "m", "attrs", "comparison", "m"]) == [
        "m",
        "m-2",
        "attrs_model",
        "comparison_model",
        "m-3",
    ]


def test_meta_attrs_come_from_the_model(reports: list[Report]) -> None:
    meta: ModelMeta = reports[0].meta
    assert (meta.checkpoint, meta.sha256, meta.dataset, meta.split, meta.n) == (
        "/ckpt/m0.pt",
        "0" * 64,
        "mnist-sample",
        "test",
        120,
    )

"""Training curves from the trainers' per-epoch history, tolerant of partial or foreign records."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

import vmieval
from vmieval.analysis.curves import curves_from_history, training_curves
from vmieval.architectures import build_architecture

HISTORY = [
    {"epoch": 1, "elbo": -210.5, "kl": {"c": 0.1, "z": 9.0}, "kl_per_dim": {"z": [4.0, 5.0]}, "temperature": 1.0},
    {"epoch": 2, "elbo": -180.0, "kl": {"c": 0.4}, "kl_per_dim": {"z": [3.0, 4.0, 2.0]}, "note": "restart"},
    {"epoch": 3, "elbo": -170.0, "iq_exact": {"c": 1.2}, "mi_bound": 1.1},
]


def test_columns_flatten_nested_keys_and_fill_gaps_with_nan() -> None:
    c = curves_from_history(HISTORY, {"preset": "sample-joint", "lam": 1.0, "history": HISTORY, "seeds": [1, 2]})
    assert c.n_epochs == 3
    np.testing.assert_array_equal(c.columns["epoch"], [1, 2, 3])
    np.testing.assert_array_equal(c.columns["elbo"], [-210.5, -180.0, -170.0])
    np.testing.assert_array_equal(c.columns["kl.c"][:2], [0.1, 0.4])
    assert math.isnan(c.columns["kl.c"][2]) and math.isnan(c.columns["kl.z"][1])
    assert c.columns["iq_exact.c"][2] == 1.2 and math.isnan(c.columns["mi_bound"][0])
    per_dim = c.columns["kl_per_dim.z"]
    assert per_dim.shape == (3, 3)
    np.testing.assert_array_equal(per_dim[1], [3.0, 4.0, 2.0])
    assert math.isnan(per_dim[0, 2]) and np.isnan(per_dim[2]).all()
    assert "note" not in c.columns  # strings are not curves
    assert c.meta == {"preset": "sample-joint", "lam": "1.0"}  # scalars only, history excluded


def test_missing_or_malformed_history_gives_empty_curves() -> None:
    for history in (None, [], "garbage", [1, 2, 3]):
        assert curves_from_history(history).n_epochs == 0


def test_reads_the_record_stored_in_a_checkpoint(tiny_native: Path) -> None:
    model = vmieval.load(tiny_native)
    assert training_curves(model).n_epochs == 0  # the fixture stores no history
    module = build_architecture("mlp", {"hidden": [32]}, model.spec)
    record = {"history": [{"epoch": 1, "elbo": -1.0}], "preset": "tiny"}
    path = vmieval.save(tiny_native.parent / "h.pt", module, "mlp", {"hidden": [32]}, model.spec, record)
    curves = training_curves(vmieval.load(path))
    assert curves.n_epochs == 1 and curves.columns["elbo"][0] == -1.0 and curves.meta["preset"] == "tiny"

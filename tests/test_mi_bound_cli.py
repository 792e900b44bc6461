"""`vmieval mi-bound`: the table, clean `--json` on stdout, the HDF5 file, and one-line errors.

A tiny untrained MLP checkpoint on 8x8 images and the embedded MNIST sample keep each run to a
fraction of a second; the numbers themselves are tested in tests/test_estimators_*.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest
import torch
from click.testing import CliRunner
from vmieval.cli.main import cli

from vmieval.architectures import build_architecture
from vmieval.checkpoints import save_native
from vmieval.spec import ModelSpec, categorical, gaussian

FAST = ["--dataset", "mnist-sample", "--image-size", "8", "--limit", "200", "--samples", "300", "--max-epochs", "2"]


@pytest.fixture
def small_ckpt(tmp_path: Path) -> Path:
    spec = ModelSpec((1, 8, 8), (gaussian("z", 3), categorical("c", 4)))
    torch.manual_seed(0)
    module = build_architecture("mlp", {"hidden": [16]}, spec)
    return save_native(tmp_path / "small-joint.pt", module, "mlp", {"hidden": [16]}, spec, {"dataset": "mnist-sample"})


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def rows(doc: dict, model: str = "small-joint") -> list[dict]:
    """The `mi/` group's columns (the report's schema) as one dict per estimate."""
    mi = doc[model]["mi"]
    return [{k: v[i] for k, v in mi.items() if isinstance(v, list)} for i in range(mi["attrs"]["rows"])]


def test_json_rows_on_clean_stdout(small_ckpt: Path) -> None:
    result = run("mi-bound", str(small_ckpt), *FAST, "--json", "--target", "c,z[0:2]")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["attrs"]["models"] == ["small-joint"] and doc["small-joint"]["attrs"]["n"] == 200
    settings = json.loads(doc["small-joint"]["attrs"]["settings"])["mi"]
    assert settings["samples"] == 300 and settings["seed"] == 0 and settings["target"] == "c,z[0:2]"
    estimates = rows(doc)
    quantities = {(e["estimand"], e["kind"], e["valid"]) for e in estimates}
    assert ("I(c,z[0:2]; x_hat)", "lower_bound", True) in quantities
    assert ("I(c,z[0:2]; x_hat)", "lower_bound", False) in quantities  # the paper's version, labelled
    assert ("I_q(x; c)", "exact", True) in quantities and ("I_q(y; c)", "exact", True) in quantities
    assert ("I_q(x; z[0:2])", "estimate", True) in quantities
    assert all(e["split"] == "test" and e["n"] > 0 for e in estimates)
    assert len({e["key"] for e in estimates}) == len(estimates)
    assert len(doc["small-joint"]["mi"]["q"]["val_log_q"]) == 2


def test_table_and_hdf5(small_ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "mi.h5"
    result = run("mi-bound", str(small_ckpt), *FAST, "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert "I(c; x_hat)" in result.stdout and "Barber-Agakov" in result.stdout and "I_q(x; c)" in result.stdout
    with h5py.File(out) as f:
        mi = f["small-joint/mi"]
        quantities = list(mi["estimand"].asstr())
        assert "I(c; x_hat)" in quantities and len(mi["value"]) == len(quantities) == mi.attrs["rows"]
        assert f["small-joint"].attrs["dataset"] == "mnist-sample"  # the training record's dataset
    again = run("mi-bound", str(small_ckpt), *FAST, "--out", str(out))
    assert again.exit_code == 6 and again.stderr.count("\n") == 1 and "--force" in again.stderr
    assert run("mi-bound", str(small_ckpt), *FAST, "--out", str(out), "--force").exit_code == 0


def test_prior_codes_and_gaussian_default_target(tmp_path: Path) -> None:
    spec = ModelSpec((1, 8, 8), (gaussian("z", 3),))
    module = build_architecture("mlp", {"hidden": [16]}, spec)
    ckpt = save_native(tmp_path / "gauss.pt", module, "mlp", {"hidden": [16]}, spec)
    result = run("mi-bound", str(ckpt), *FAST, "--codes", "prior", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    # the default Gaussian target: the two dims with the highest KL on the data scored
    from vmieval.checkpoints import load_checkpoint
    from vmieval.data import open_for_model
    from vmieval.encoded import encode_split
    from vmieval.estimators.mi import default_target

    model = load_checkpoint(ckpt)
    expected = default_target(model.spec, encode_split(model, open_for_model(model, "mnist-sample", limit=200)))
    assert {e["target"] for e in rows(doc, "gauss") if e["side"] == "decoder"} == {expected}
    assert doc["gauss"]["mi"]["q"]["attrs"]["codes"] == "prior"
    assert not [e for e in rows(doc, "gauss") if not e["valid"]]  # under prior codes H is exact


def test_conv_q(small_ckpt: Path) -> None:
    result = run("mi-bound", str(small_ckpt), *FAST, "--q-arch", "conv", "--json")
    assert result.exit_code == 0, result.stderr
    bounds = [e for e in rows(json.loads(result.stdout)) if e["side"] == "decoder"]
    assert bounds and all(json.loads(e["params"])["q"] == "conv" for e in bounds)


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--target", "w"], 2, "no latent block named 'w'"),
        (["--target", "c[0:2]"], 2, "only Gaussian blocks"),
        (["--samples", "3"], 2, "samples"),
        (["--image-size", "28"], 5, "--image-size 8"),
    ],
)
def test_errors_are_one_line(small_ckpt: Path, args: list[str], code: int, words: str) -> None:
    result = run("mi-bound", str(small_ckpt), *FAST, *args)
    assert result.exit_code == code, result.output
    assert result.stderr.count("\n") == 1 and words in result.stderr


def test_missing_checkpoint_is_one_line(tmp_path: Path) -> None:
    result = run("mi-bound", str(tmp_path / "nope.pt"), *FAST)
    assert result.exit_code == 3 and result.stderr.count("\n") == 1

"""`vmieval report` end to end on every kind of data: an .npz of sprites with factors, a folder of RGB
PNGs (unlabelled), an HDF5 file, and MNIST in torchvision's own layout (root/MNIST/raw).

Tiny untrained native models keep each run to a second or two; what is checked is that the right
tables and groups appear (factor matrix and both MIGs; k-means labelled as a baseline; unlabelled
skips said once), that the data's files are recorded with their hashes, and that the images were
streamed rather than held.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from vmieval.cli.main import cli

from vmieval.architectures import build_architecture
from vmieval.checkpoints import save_native
from vmieval.spec import ModelSpec, categorical, gaussian

REPO = Path(__file__).resolve().parents[1]
SPRITES = REPO / "fixtures" / "sprites" / "sprites-test.npz"
SCHEMA_DOC = REPO / "docs" / "report-schema.md"
FAST_MI = ["--samples", "100", "--max-epochs", "2", "--q-hidden", "16"]


def mlp(path: Path, spec: ModelSpec, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    module = build_architecture("mlp", {"hidden": [16]}, spec)
    return save_native(path, module, "mlp", {"hidden": [16]}, spec, {"seed": seed})


def burgess(path: Path, spec: ModelSpec, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    options = {"channels": 4, "hidden": 8}
    return save_native(path, build_architecture("burgess", options, spec), "burgess", options, spec, {"seed": seed})


def report(*args: str) -> tuple[object, dict]:
    result = CliRunner().invoke(cli, ["report", *args])
    assert result.exit_code == 0, result.output
    return result, json.loads(result.stdout)


def model_group(doc: dict) -> dict:
    return doc[doc["attrs"]["models"][0]]


def documented_factor_paths() -> list[tuple[str, str | None]]:
    """(path under the model group, attribute or None) of every row of the factors/ schema table."""
    out = []
    for line in SCHEMA_DOC.read_text().splitlines():
        if line.startswith("| `factors/"):
            for token in re.findall(r"`(factors/[^`]*)`", line.split("|")[1]):
                obj, _, attr = token.partition("@")
                out.append((obj.rstrip("/"), attr or None))
    assert len(out) > 20  # the table was found
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sprites_npz_with_factors_shows_the_factor_matrix_and_both_migs(tmp_path: Path) -> None:
    ckpt = burgess(tmp_path / "sprites.pt", ModelSpec((1, 64, 64), (gaussian("z", 3),), likelihood="bernoulli"))
    out = tmp_path / "rep"
    args = [str(ckpt), "--data", str(SPRITES), "--limit", "80", "--no-mi", "--out", str(out)]
    result = CliRunner().invoke(cli, ["report", *args, "--format", "md"])
    assert result.exit_code == 0, result.output
    assert "I_q(z_j; v_k), latent x factor" in result.stdout and "MIG (Chen et al. 2018" in result.stdout
    assert "disentanglement_lib" in result.stdout and "k-means" in result.stdout
    with h5py.File(out / "report.h5", "r") as f:
        group = f["sprites/factors"]
        assert group.attrs["available"] and group["mi"].shape == (3, 5) and group["histogram_mi"].shape == (3, 5)
        assert group["factor"].asstr()[()].tolist() == ["shape", "scale", "rotation", "x", "y"]
        assert np.isfinite(group["mig/value"][()]) and np.isfinite(group["histogram_mig/value"][()])
        files = json.loads(f["sprites"].attrs["data_files"])
        for obj, attr in documented_factor_paths():
            assert f"sprites/{obj}" in f, f"documented path {obj} missing"
            assert attr is None or attr in f[f"sprites/{obj}"].attrs, f"documented attribute {obj}@{attr} missing"
        assert f["sprites/cluster"].attrs["baseline"] and f["sprites/cluster"].attrs["method"].startswith("k-means")
        assert f["sprites/factors/histogram_mig"].attrs["estimator"].startswith("MIG (disentanglement_lib)")
        h, mi, se = (f[f"sprites/factors/{k}"][()] for k in ("factor_entropy", "mi", "mi_stderr"))
    assert files == [{"path": str(SPRITES), "sha256": sha256(SPRITES), "bytes": SPRITES.stat().st_size}]
    assert (mi <= h + 4 * se + 1e-9).all()  # I(z_j; v_k) <= H(v_k), up to noise


def test_folder_of_rgb_pngs_is_unlabelled_and_says_so_once(tmp_path: Path) -> None:
    folder = tmp_path / "pngs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    ckpt = mlp(tmp_path / "rgb.pt", ModelSpec((3, 16, 16), (gaussian("z", 3), categorical("c", 4))))
    result, doc = report(str(ckpt), "--data", str(folder), *FAST_MI, "--json")
    group = model_group(doc)
    assert group["cluster"]["attrs"]["available"] is False and "labels" in group["cluster"]["attrs"]["reason"]
    assert group["factors"]["attrs"]["available"] is False
    assert group["elbo"]["attrs"]["available"] and group["mi"]["attrs"]["rows"] > 0
    assert group["traversals"]["attrs"]["available"] and group["histograms"]["attrs"]["available"]
    table = CliRunner().invoke(
        cli, ["report", str(ckpt), "--data", str(folder), "--no-mi", "--out", str(tmp_path / "r")]
    )
    assert table.exit_code == 0, table.output
    assert table.stdout.count("needs class labels") == 1, table.stdout
    files = json.loads(group["attrs"]["data_files"])
    assert len(files) == 1 and files[0]["path"] == str(folder) and files[0]["bytes"] > 0


def test_hdf5_file_with_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = tmp_path / "digits.h5"
    with h5py.File(path, "w") as f:
        f["images"] = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
        f["labels"] = np.arange(40) % 4
    ckpt = mlp(tmp_path / "h5.pt", ModelSpec((1, 28, 28), (gaussian("z", 2), categorical("c", 4))))
    _, doc = report(str(ckpt), "--data", f"{path}:images", "--no-mi", "--json")
    group = model_group(doc)
    assert group["attrs"]["n"] == 40 and group["cluster"]["attrs"]["method"] == "argmax q(c|x)"
    assert group["cluster"]["attrs"]["n_classes"] == 4 and group["elbo"]["attrs"]["available"]
    assert json.loads(group["attrs"]["data_files"])[0]["sha256"] == sha256(path)


def idx(array: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def test_mnist_in_torchvisions_own_layout(tmp_path: Path) -> None:
    raw = tmp_path / "root" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(2)
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx(rng.integers(0, 256, (30, 28, 28), np.uint8))))
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx((np.arange(30) % 10).astype(np.uint8))))
    ckpt = mlp(tmp_path / "mnist.pt", ModelSpec((1, 28, 28), (gaussian("z", 2), categorical("c", 10))))
    _, doc = report(str(ckpt), "--data", "mnist", "--data-dir", str(tmp_path / "root"), *FAST_MI, "--json")
    group = model_group(doc)
    assert group["attrs"]["dataset"] == "mnist" and group["attrs"]["n"] == 30
    assert group["cluster"]["attrs"]["available"] and group["mi"]["attrs"]["rows"] > 0
    assert {Path(r["path"]).name for r in json.loads(group["attrs"]["data_files"])} == {
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    }


@pytest.mark.parametrize("limit", [7, 30])
def test_streamed_split_equals_the_held_one(limit: int) -> None:
    """The report streams its data: encoding a Dataset gives the posterior, labels and factors of the
    same images held in memory, and traversal inputs are read back by index."""
    from vmieval.data import Fit, open_dataset
    from vmieval.encoded import encode_split
    from vmieval.frozen import CheckpointInfo, FrozenVAE

    spec = ModelSpec((1, 64, 64), (gaussian("z", 3),))
    torch.manual_seed(0)
    module = build_architecture("burgess", {"channels": 4, "hidden": 8}, spec)
    model = FrozenVAE.from_module(module, spec, CheckpointInfo("test", "test", "", "burgess"))
    streamed = open_dataset(str(SPRITES), limit=limit, fit=Fit((1, 64, 64)))
    held = streamed.to_memory()
    a, b = encode_split(model, streamed, batch_size=4), encode_split(model, held, batch_size=4)
    assert torch.equal(a.posterior["z"].mean, b.posterior["z"].mean) and torch.equal(a.labels, b.labels)
    assert torch.equal(a.factors, b.factors) and a.factor_names == b.factor_names
    picked = torch.tensor([5, 0, 5, 3]) % limit
    assert torch.equal(a.images_at(picked), held.images[picked])
    rows = [(r.start, r.stop) for r, _ in a.image_batches(4)]
    assert rows[0] == (0, 4) and rows[-1][1] == limit

"""JointVAE importer: architecture from shapes, spec-file detection and cross-checks, the real checkpoint.

Synthetic state dicts (random JointVAE modules saved as plain state dicts) cover detection and errors;
the published MNIST model on this machine, when present, must load, reconstruct, and cluster digits.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from scipy.optimize import linear_sum_assignment
from shared_paths import SHARED_JOINTVAE, SHARED_MNIST
from vmieval.cli.main import cli

from vmieval.architectures import build_architecture
from vmieval.checkpoints import describe_checkpoint, load_checkpoint
from vmieval.data import load_images
from vmieval.encoded import encode_split
from vmieval.errors import CheckpointError
from vmieval.spec import ModelSpec, categorical, gaussian

REAL = SHARED_JOINTVAE
REAL_MNIST = SHARED_MNIST
MNIST_SPEC = ModelSpec((1, 32, 32), (gaussian("z", 10), categorical("c", 10)))
SETTINGS = {"latent_spec": {"cont": 10, "disc": [10]}, "dataset": "mnist", "batch_size": 64}


def _save_jointvae(folder: Path, spec: ModelSpec, settings: dict | None = SETTINGS, seed: int = 0) -> Path:
    """A random JointVAE saved the way the JointVAE repository does: a plain state dict (+ specs.json)."""
    torch.manual_seed(seed)
    module = build_architecture("jointvae", {}, spec).eval()
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(module.state_dict(), folder / "model.pt")
    if settings is not None:
        (folder / "specs.json").write_text(json.dumps(settings))
    return folder / "model.pt"


def test_key_names_are_jointvae_s() -> None:
    module = build_architecture("jointvae", {}, MNIST_SPEC)
    keys = set(module.state_dict())
    assert {"fc_alphas.0.weight", "fc_mean.weight", "fc_log_var.bias", "features_to_img.4.weight"} <= keys
    assert "img_to_features.6.weight" not in keys  # three convs for 32x32


def test_detected_from_specs_json_and_outputs_match_module(tmp_path: Path) -> None:
    path = _save_jointvae(tmp_path / "m", MNIST_SPEC)
    module = build_architecture("jointvae", {}, MNIST_SPEC).eval()
    module.load_state_dict(torch.load(path, weights_only=True))
    vae = load_checkpoint(path)
    assert vae.spec == MNIST_SPEC and vae.info.format == "jointvae"
    assert vae.training_record["dataset"] == "mnist"
    x = torch.rand(3, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(vae.encode_params(x), module.encode(x))
    logits = vae.encode(x)["c"].logits
    assert torch.allclose(logits.exp().sum(dim=1), torch.ones(3), atol=1e-5)  # log-alphas: normalised


def test_format_flag_infers_spec_from_shapes_without_specs_json(tmp_path: Path) -> None:
    spec = ModelSpec((3, 64, 64), (gaussian("z", 4), categorical("c0", 3), categorical("c1", 5)))
    path = _save_jointvae(tmp_path / "rgb", spec, settings=None)
    vae = load_checkpoint(path, format="jointvae")
    assert vae.spec == spec
    assert vae.decode(torch.zeros(2, spec.latent_width)).shape == (2, 3, 64, 64)


def test_state_dict_keys_alone_are_recognised(tmp_path: Path) -> None:
    path = _save_jointvae(tmp_path / "bare", MNIST_SPEC, settings=None)
    assert describe_checkpoint(path)["format"] == "jointvae"


def test_specs_json_contradicting_weights_is_refused(tmp_path: Path) -> None:
    path = _save_jointvae(tmp_path / "m", MNIST_SPEC, settings={"latent_spec": {"cont": 6, "disc": [10]}})
    with pytest.raises(CheckpointError, match="cont=6"):
        load_checkpoint(path)


def test_broken_specs_json_is_one_line(tmp_path: Path) -> None:
    path = _save_jointvae(tmp_path / "m", MNIST_SPEC, settings=None)
    (tmp_path / "m" / "specs.json").write_text("{not json")
    result = CliRunner().invoke(cli, ["inspect", str(path)])
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1 and "not valid JSON" in result.stderr


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("latent_to_features.0.weight", torch.zeros(256, 21), "do not fit"),
        ("fc_mean.bias", torch.full((10,), float("nan")), "NaN or Inf"),
        ("fc_alphas.0.weight", None, "cont=10, disc=\\[\\]"),
    ],
)
def test_broken_state_dicts_are_refused(tmp_path: Path, key: str, value: torch.Tensor | None, fragment: str) -> None:
    path = _save_jointvae(tmp_path / "m", MNIST_SPEC)
    state = torch.load(path, weights_only=True)
    if value is None:
        del state[key], state[key.replace("weight", "bias")]
    else:
        state[key] = value
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=fragment):
        load_checkpoint(path)


@pytest.mark.skipif(not REAL.exists(), reason="the published JointVAE checkpoint is not on this machine")
def test_real_checkpoint_inspects_without_building() -> None:
    result = CliRunner().invoke(cli, ["inspect", "--json", str(REAL)])
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["format"] == "jointvae" and info["parameters"] == 687_359
    assert ModelSpec.from_dict(info["metadata"]["spec"]) == MNIST_SPEC


@pytest.mark.skipif(not REAL.exists(), reason="the published JointVAE checkpoint is not on this machine")
def test_real_checkpoint_reconstructs_and_clusters_digits() -> None:
    if not (REAL_MNIST / "t10k-images-idx3-ubyte.gz").exists():
        data = load_images("mnist-sample", "test", image_size=32)  # 500 images from MNIST's training files
    else:
        data = load_images("mnist", "test", data_dir=REAL_MNIST, image_size=32, limit=1000)
    vae = load_checkpoint(REAL)
    post = encode_split(vae, data).posterior
    log_q = post["c"].log_probs  # [N, 10]

    # Reconstruction through (z mean, argmax c) in JointVAE's order; the swapped order gives ~0.14.
    code = F.one_hot(log_q.argmax(dim=1), 10).float()
    recon = vae.decode_mean({"z": post["z"].mean, "c": code})
    assert float(((recon - data.images) ** 2).mean()) < 0.03

    # Hungarian accuracy of argmax c against digit labels (JointVAE reports ~88%; we measure ~87%).
    counts = np.zeros((10, 10))
    np.add.at(counts, (log_q.argmax(dim=1).numpy(), data.labels.numpy()), 1)
    rows, cols = linear_sum_assignment(-counts)
    accuracy = counts[rows, cols].sum() / len(data)
    assert accuracy > 0.8

    # Exact I_q(x; c) = H(mean_x q(c|x)) - mean_x H(q(c|x)): near log 10 for a confident, balanced code.
    log_aggregate = torch.logsumexp(log_q, dim=0) - math.log(len(log_q))
    h_aggregate = -float((log_aggregate.exp() * log_aggregate).sum())
    h_conditional = -float((log_q.exp() * log_q).sum(dim=1).mean())
    assert 2.0 < h_aggregate - h_conditional <= math.log(10) + 1e-6


@pytest.mark.skipif(not (REAL.exists() and REAL_MNIST.exists()), reason="JointVAE checkpoint or MNIST not here")
def test_real_checkpoint_through_mi_bound_without_flags() -> None:
    """End to end as a user types it: format from specs.json, image size from the spec. One Q fit
    (`--folds 1`): cross-fitting is not what this test is about, and five fits were most of its time."""
    args = ["mi-bound", str(REAL), "--data-dir", str(REAL_MNIST), "--limit", "1000", "--samples", "2000"]
    args += ["--folds", "1", "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    mi = doc[doc["attrs"]["models"][0]]["mi"]
    rows = [{k: v[i] for k, v in mi.items() if isinstance(v, list)} for i in range(mi["attrs"]["rows"])]
    exact = next(r for r in rows if r["key"] == "I_q(x;t)/c/exact/exact/-")
    valid = [r for r in rows if r["side"] == "decoder" and r["valid"] and r["family"] == "barber-agakov"]
    assert exact["value"] > 2.0 and valid and valid[0]["value"] > 2.0

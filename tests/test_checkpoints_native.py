"""Native checkpoints: round trip, strict loading, refusal of inconsistent or unsafe files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from shared_paths import FIXTURE_MODELS

import vmieval
from vmieval.architectures import build_architecture
from vmieval.checkpoints import describe_checkpoint, save_native
from vmieval.checkpoints.validate import state_digest
from vmieval.errors import CheckpointError, DataError, OutputError
from vmieval.spec import ModelSpec, categorical, gaussian


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_round_trip_gives_identical_outputs(tmp_path: Path, joint_spec: ModelSpec, arch: str) -> None:
    torch.manual_seed(1)
    config = {"hidden": [32]} if arch == "mlp" else {"channels": [8, 16], "fc": 32}
    module = build_architecture(arch, config, joint_spec).eval()
    path = save_native(tmp_path / "m.pt", module, arch, config, joint_spec, {"seed": 3, "history": [{"elbo": -1.0}]})
    model = vmieval.load(path)
    x = torch.rand(4, 1, 28, 28)
    latent = torch.randn(4, joint_spec.latent_width)
    with torch.no_grad():
        assert torch.equal(model.encode_params(x), module.encode(x))
        assert torch.equal(model.decode(latent), module.decode(latent))
    assert model.spec == joint_spec
    assert model.training_record["seed"] == 3
    assert len(model.info.sha256) == 64
    assert not any(p.requires_grad for p in model._module.parameters())


def test_describe_does_not_build(tiny_native: Path) -> None:
    info = describe_checkpoint(tiny_native)
    assert info["format"] == "native"
    assert info["metadata"]["architecture"] == {"name": "mlp", "config": {"hidden": [32]}}
    assert info["parameters"] > 0


def _rewrite(path: Path, edit) -> Path:
    payload = torch.load(path, weights_only=True)
    edit(payload)
    torch.save(payload, path)
    return path


def test_strict_loading_refuses_missing_tensor(tiny_native: Path) -> None:
    _rewrite(tiny_native, lambda p: p["state_dict"].pop(next(iter(p["state_dict"]))))
    with pytest.raises(CheckpointError, match="do not fit"):
        vmieval.load(tiny_native)


def test_metadata_contradicting_tensors_is_refused(tiny_native: Path) -> None:
    def widen(p: dict) -> None:
        meta = json.loads(p["metadata"])
        meta["spec"]["blocks"][0]["size"] = 7
        p["metadata"] = json.dumps(meta)

    _rewrite(tiny_native, widen)
    with pytest.raises(CheckpointError):
        vmieval.load(tiny_native)


def test_nan_weights_are_refused(tiny_native: Path) -> None:
    def poison(p: dict) -> None:
        first = next(iter(p["state_dict"]))
        p["state_dict"][first][0] = float("nan")

    _rewrite(tiny_native, poison)
    with pytest.raises(CheckpointError, match="NaN"):
        vmieval.load(tiny_native)


def test_unknown_architecture_and_config_keys(tiny_native: Path) -> None:
    def rename(p: dict) -> None:
        meta = json.loads(p["metadata"])
        meta["architecture"]["name"] = "transformer"
        p["metadata"] = json.dumps(meta)

    _rewrite(tiny_native, rename)
    with pytest.raises(CheckpointError, match="unknown architecture"):
        vmieval.load(tiny_native)


def test_newer_schema_is_refused(tiny_native: Path) -> None:
    def bump(p: dict) -> None:
        meta = json.loads(p["metadata"])
        meta["schema_version"] = 99
        p["metadata"] = json.dumps(meta)

    _rewrite(tiny_native, bump)
    with pytest.raises(CheckpointError, match="newer"):
        vmieval.load(tiny_native)


def test_images_of_wrong_size_are_a_data_error(tiny_native: Path) -> None:
    model = vmieval.load(tiny_native)
    with pytest.raises(DataError, match="expects 1x28x28"):
        model.encode(torch.rand(2, 1, 32, 32))


def test_save_refuses_overwrite_without_force(tmp_path: Path) -> None:
    spec = ModelSpec((1, 4, 4), (gaussian("z", 2), categorical("c", 2)))
    module = build_architecture("mlp", {"hidden": [8]}, spec)
    save_native(tmp_path / "a.pt", module, "mlp", {"hidden": [8]}, spec)
    with pytest.raises(OutputError, match="--force"):
        save_native(tmp_path / "a.pt", module, "mlp", {"hidden": [8]}, spec, force=False)
    with pytest.raises(OutputError, match="does not exist"):
        save_native(tmp_path / "missing" / "a.pt", module, "mlp", {"hidden": [8]}, spec)


def test_conv_needs_size_divisible_by_four() -> None:
    spec = ModelSpec((1, 30, 30), (gaussian("z", 2),))
    with pytest.raises(CheckpointError, match="divisible by 4"):
        build_architecture("conv", {}, spec)


@pytest.mark.parametrize("config", [{"hidden": 32}, {"hidden": ["32"]}, {"hidden": [True]}, {"hidden": None}])
def test_config_of_the_wrong_type_is_a_checkpoint_error(tiny_native: Path, config: dict) -> None:
    def retype(p: dict) -> None:
        meta = json.loads(p["metadata"])
        meta["architecture"]["config"] = config
        p["metadata"] = json.dumps(meta)

    _rewrite(tiny_native, retype)
    with pytest.raises(CheckpointError, match="wrong type"):
        vmieval.load(tiny_native)


# -- the tensors' hash: written at save, checked at load, optional for older files ------------------


def test_saved_files_carry_a_hash_of_their_tensors(tiny_native: Path) -> None:
    payload = torch.load(tiny_native, weights_only=True)
    assert json.loads(payload["metadata"])["tensors_sha256"] == state_digest(payload["state_dict"])
    assert state_digest(payload["state_dict"]) != state_digest({**payload["state_dict"], "extra": torch.zeros(1)})


def test_a_changed_tensor_is_corruption(tiny_native: Path) -> None:
    def nudge(p: dict) -> None:
        first = next(iter(p["state_dict"]))
        p["state_dict"][first] = p["state_dict"][first].clone()
        p["state_dict"][first].view(-1)[0] += 1e-3

    _rewrite(tiny_native, nudge)
    with pytest.raises(CheckpointError, match="do not match the hash stored at save time"):
        vmieval.load(tiny_native)


def test_files_without_a_hash_load_as_before(tiny_native: Path) -> None:
    """Checkpoints written before the hash existed (the committed fixtures among them) still load."""
    before = vmieval.load(tiny_native)

    def drop(p: dict) -> None:
        meta = json.loads(p["metadata"])
        del meta["tensors_sha256"]
        p["metadata"] = json.dumps(meta)

    _rewrite(tiny_native, drop)
    after = vmieval.load(tiny_native)
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(before.encode_params(x), after.encode_params(x))


def test_committed_fixtures_predate_the_hash_and_load() -> None:
    for path in FIXTURE_MODELS.glob("sample-joint-*.pt"):  # sprites-gauss10 was trained after the hash came
        meta = json.loads(torch.load(path, weights_only=True)["metadata"])
        assert "tensors_sha256" not in meta
        assert vmieval.load(path).spec.blocks


# -- strict parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("size", 16.7), ("size", "16"), ("size", True), ("size", 10.0), ("name", 3), ("kind", None)],
)
def test_spec_blocks_are_parsed_strictly(joint_spec: ModelSpec, field: str, value: object) -> None:
    d = joint_spec.to_dict()
    d["blocks"][0][field] = value
    with pytest.raises(CheckpointError, match="integer size"):
        ModelSpec.from_dict(d)


@pytest.mark.parametrize("version", [-5, 0, "1", 1.0, True, None])
def test_schema_version_must_be_a_positive_integer(tiny_native: Path, version: object) -> None:
    def set_version(p: dict) -> None:
        meta = json.loads(p["metadata"])
        meta["schema_version"] = version
        p["metadata"] = json.dumps(meta)

    _rewrite(tiny_native, set_version)
    with pytest.raises(CheckpointError, match="positive integer"):
        vmieval.load(tiny_native)


def test_weights_of_another_dtype_are_refused_not_cast(tiny_native: Path) -> None:
    _rewrite(tiny_native, lambda p: p["state_dict"].update({k: v.double() for k, v in p["state_dict"].items()}))
    with pytest.raises(CheckpointError, match="float64 but the 'mlp' architecture declares float32"):
        vmieval.load(tiny_native)

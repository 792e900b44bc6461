"""Exported models: a user's own VAE through torch.export, the --trust rule, and tamper checks.

One small model is exported once per module (torch.export takes about a second per program); tests
that need a broken archive rewrite a copy of it with zipfile.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn
from vmieval.cli.main import cli

from vmieval.checkpoints import describe_checkpoint, load_checkpoint
from vmieval.checkpoints.exported import FORMAT, load_exported, read_exported_metadata
from vmieval.data import load_images
from vmieval.errors import CheckpointError, OutputError, TrustRequired, UsageError
from vmieval.export import FlatEncoder, export_model
from vmieval.spec import ModelSpec, categorical, gaussian

SPEC = ModelSpec((1, 28, 28), (gaussian("z", 3), categorical("c", 5)))


class TupleVAE(nn.Module):
    """A user model in its own conventions: encode returns (mean, logvar, logits), decode flat pixels."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU())
        self.mean, self.logvar, self.logits = nn.Linear(16, 3), nn.Linear(16, 3), nn.Linear(16, 5)
        self.out = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 784))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mean(h), self.logvar(h), self.logits(h)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.out(latent)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TupleVAE]:
    torch.manual_seed(0)
    model = TupleVAE().eval()
    path = tmp_path_factory.mktemp("exported") / "user.pt2"
    export_model(path, SPEC, model.encode, model.decode, metadata={"author": "test", "epochs": 3})
    return path, model


def _copy_with(src: Path, dst: Path, replace: dict[str, bytes]) -> Path:
    """Rewrite an archive with some members replaced (same compression as the original members)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, replace.get(info.filename, zin.read(info)))
    return dst


def test_round_trip_gives_identical_outputs(exported: tuple[Path, TupleVAE]) -> None:
    path, model = exported
    vae = load_checkpoint(path, trust=True)
    x = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(1))  # batch 5, exported at 2
    latent = torch.randn(7, SPEC.latent_width, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        mean, logvar, logits = model.encode(x)
        expected_images = model.decode(latent).view(-1, 1, 28, 28)
    post = vae.encode(x)
    assert torch.allclose(post["z"].mean, mean, atol=1e-6)
    assert torch.allclose(post["z"].logvar, logvar, atol=1e-6)
    assert torch.allclose(post["c"].logits, logits, atol=1e-6)
    assert torch.allclose(vae.decode(latent), expected_images, atol=1e-6)
    assert vae.spec == SPEC
    assert vae.info.format == FORMAT
    assert vae.info.metadata["metadata"] == {"author": "test", "epochs": 3}


def test_loading_without_trust_is_refused_with_exit_code_4(exported: tuple[Path, TupleVAE]) -> None:
    with pytest.raises(TrustRequired, match="--trust") as caught:
        load_checkpoint(exported[0])
    assert caught.value.exit_code == 4
    assert "\n" not in str(caught.value)
    assert "run code" in str(caught.value)


def test_metadata_is_read_without_deserialising_programs(
    exported: tuple[Path, TupleVAE], monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.export.load must not run without trust")

    monkeypatch.setattr(torch.export, "load", forbidden)
    meta = read_exported_metadata(exported[0])
    assert meta["format"] == FORMAT and meta["schema_version"] == 1
    assert ModelSpec.from_dict(meta["spec"]) == SPEC
    with zipfile.ZipFile(exported[0]) as zf:
        for name, entry in meta["programs"].items():
            assert hashlib.sha256(zf.read(entry["member"])).hexdigest() == entry["sha256"], name
    assert describe_checkpoint(exported[0])["format"] == "exported"
    with pytest.raises(TrustRequired):
        load_exported(exported[0])


def test_inspect_shows_metadata_without_trust(exported: tuple[Path, TupleVAE]) -> None:
    result = CliRunner().invoke(cli, ["inspect", "--json", str(exported[0])])
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["metadata"]["metadata"]["author"] == "test"
    assert [b["name"] for b in info["metadata"]["spec"]["blocks"]] == ["z", "c"]


def test_altered_program_is_refused_even_with_trust(exported: tuple[Path, TupleVAE], tmp_path: Path) -> None:
    with zipfile.ZipFile(exported[0]) as zf:
        blob = bytearray(zf.read("decoder.pt2"))
    blob[len(blob) // 2] ^= 0xFF
    altered = _copy_with(exported[0], tmp_path / "altered.pt2", {"decoder.pt2": bytes(blob)})
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(altered, trust=True)


def test_spec_the_programs_cannot_take_is_refused(exported: tuple[Path, TupleVAE], tmp_path: Path) -> None:
    meta = read_exported_metadata(exported[0])
    meta["spec"]["blocks"].append({"kind": "categorical", "name": "extra", "size": 4})
    broken = _copy_with(exported[0], tmp_path / "spec.pt2", {"vmieval.json": json.dumps(meta).encode()})
    with pytest.raises(CheckpointError, match="cannot run on its own spec|does not match"):
        load_checkpoint(broken, trust=True)


def test_newer_schema_is_refused(exported: tuple[Path, TupleVAE], tmp_path: Path) -> None:
    meta = read_exported_metadata(exported[0])
    meta["schema_version"] = 99
    newer = _copy_with(exported[0], tmp_path / "newer.pt2", {"vmieval.json": json.dumps(meta).encode()})
    with pytest.raises(CheckpointError, match="newer"):
        read_exported_metadata(newer)


def test_export_errors_are_one_line_usage_or_output_errors(exported: tuple[Path, TupleVAE], tmp_path: Path) -> None:
    model = exported[1]
    wider_z = ModelSpec((1, 28, 28), (gaussian("z", 4), categorical("c", 4)))  # same latent width, P 12 != 11
    with pytest.raises(UsageError, match=r"encoder returns \(2, 11\), the spec needs \(2, 12\)"):
        export_model(tmp_path / "narrow.pt2", wider_z, model.encode, model.decode)
    narrow = ModelSpec((1, 28, 28), (gaussian("z", 2), categorical("c", 5)))
    with pytest.raises(UsageError, match=r"decoder fails on a \[2, 7\] input"):
        export_model(tmp_path / "narrow.pt2", narrow, model.encode, model.decode)
    with pytest.raises(OutputError, match="--force"):
        export_model(exported[0], SPEC, model.encode, model.decode)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="does not exist"):
        export_model(blocker / "out.pt2", SPEC, model.encode, model.decode)
    assert not (tmp_path / "narrow.pt2").exists()


def test_flat_encoder_accepts_dicts_in_block_order() -> None:
    mean, logvar, logits = torch.zeros(2, 3), torch.ones(2, 3), torch.full((2, 5), 2.0)
    enc = FlatEncoder(SPEC, lambda x: {"c": logits, "z": {"mean": mean, "logvar": logvar}})
    assert torch.equal(enc(torch.zeros(2, 1, 28, 28)), torch.cat([mean, logvar, logits], dim=1))


MODULE_FILE = """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Flatten(), nn.Linear(16, 4))
        self.dec = nn.Linear(2, 16)

    def decode(self, z):
        return self.dec(z).view(-1, 1, 4, 4)

def build(seed="0"):
    torch.manual_seed(int(seed))
    net = Net()
    spec = {"observation_shape": [1, 4, 4], "blocks": [{"kind": "gaussian", "name": "z", "size": 2}]}
    return spec, net.enc, net.decode
"""


def test_cli_export_from_a_module_file(tmp_path: Path) -> None:
    (tmp_path / "my_model.py").write_text(MODULE_FILE)
    out = tmp_path / "mine.pt2"
    target = f"{tmp_path / 'my_model.py'}:build"
    args = ["export", "--module-file", target, "--arg", "seed=4", "--meta", "run=a", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.stderr
    meta = read_exported_metadata(out)
    assert meta["metadata"]["build_args"] == {"seed": "4"} and meta["metadata"]["run"] == "a"
    torch.manual_seed(4)
    enc, dec = nn.Sequential(nn.Flatten(), nn.Linear(16, 4)), nn.Linear(2, 16)
    vae = load_checkpoint(out, trust=True)
    x = torch.rand(3, 1, 4, 4)
    z = torch.randn(3, 2)
    with torch.no_grad():
        assert torch.allclose(vae.encode_params(x), enc(x), atol=1e-6)
        assert torch.allclose(vae.decode(z), dec(z).view(-1, 1, 4, 4), atol=1e-6)
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 6 and again.stderr.count("\n") == 1 and "--force" in again.stderr


def test_same_checkpoint_data_and_seed_give_identical_numbers(
    exported: tuple[Path, TupleVAE], tiny_native: Path
) -> None:
    """Determinism across separate loads: encoder outputs and every estimator row are bit-identical."""
    from vmieval.encoded import encode_split
    from vmieval.estimators import MIConfig, estimate_mi

    data = load_images("mnist-sample", "test", limit=200)
    config = MIConfig(samples=200, max_epochs=2, q_hidden=16, seed=3)
    for path, trust in ((exported[0], True), (tiny_native, False)):
        first, second = (load_checkpoint(path, trust=trust) for _ in range(2))
        assert torch.equal(first.encode_params(data.images), second.encode_params(data.images))
        rows = [
            [e.to_dict() for e in estimate_mi(model, encode_split(model, data), config).estimates()]
            for model in (first, second)
        ]
        assert rows[0] == rows[1] and len(rows[0]) > 0

"""The Burgess et al. β-VAE architecture: native round trip for grey and RGB images, layout, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import vmieval
from vmieval.architectures import build_architecture
from vmieval.architectures.registry import ARCHITECTURES, _load_builtin
from vmieval.checkpoints import save_native
from vmieval.errors import CheckpointError
from vmieval.spec import ModelSpec, categorical, gaussian


def test_burgess_is_a_builtin_architecture() -> None:
    _load_builtin()
    assert "burgess" in ARCHITECTURES


@pytest.mark.parametrize(("channels", "size"), [(1, 64), (3, 64), (3, 32)])
def test_native_round_trip_gives_identical_outputs(tmp_path: Path, channels: int, size: int) -> None:
    spec = ModelSpec((channels, size, size), (gaussian("z", 10),))
    torch.manual_seed(channels)
    module = build_architecture("burgess", {}, spec).eval()
    path = save_native(tmp_path / "b.pt", module, "burgess", {}, spec, {"seed": 0})
    model = vmieval.load(path)
    x = torch.rand(5, channels, size, size)
    latent = torch.randn(5, 10)
    with torch.no_grad():
        params = model.encode_params(x)
        assert params.shape == (5, 20) and torch.equal(params, module.encode(x))
        image = model.decode(latent)
        assert image.shape == (5, channels, size, size) and torch.equal(image, module.decode(latent))
    assert model.info.architecture == "burgess"
    posterior = model.encode(x)["z"]
    assert torch.equal(posterior.mean, params[:, :10]) and torch.equal(posterior.logvar, params[:, 10:])


def test_layout_follows_burgess_and_its_pytorch_keys() -> None:
    module = build_architecture("burgess", {}, ModelSpec((3, 64, 64), (gaussian("z", 10),)))
    shapes = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    assert shapes["encoder.conv1.weight"] == (32, 3, 4, 4) and shapes["encoder.conv_64.weight"] == (32, 32, 4, 4)
    assert shapes["encoder.lin1.weight"] == (256, 512) and shapes["encoder.lin2.weight"] == (256, 256)
    assert shapes["encoder.mu_logvar_gen.weight"] == (20, 256)
    assert shapes["decoder.lin1.weight"] == (256, 10) and shapes["decoder.lin3.weight"] == (512, 256)
    assert shapes["decoder.convT3.weight"] == (32, 3, 4, 4)
    assert sum(1 for k in shapes if k.endswith(".weight") and "conv" in k) == 8  # 4 conv + 4 transposed conv
    small = build_architecture("burgess", {}, ModelSpec((1, 32, 32), (gaussian("z", 10),)))
    assert not any("64" in k for k in small.state_dict())


def test_interleaved_head_is_split_into_mean_then_log_variance() -> None:
    module = build_architecture("burgess", {"channels": 8, "hidden": 16}, ModelSpec((1, 32, 32), (gaussian("z", 3),)))
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        raw = module.encoder(x)
        flat = module.encode(x)
    assert torch.equal(flat[:, :3], raw[:, 0::2]) and torch.equal(flat[:, 3:], raw[:, 1::2])


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec((1, 28, 28), (gaussian("z", 10),)),
        ModelSpec((1, 64, 64), (gaussian("z", 4), categorical("c", 3))),
    ],
    ids=["28x28", "categorical"],
)
def test_unsupported_specs_are_one_line_checkpoint_errors(spec: ModelSpec) -> None:
    with pytest.raises(CheckpointError, match="burgess"):
        build_architecture("burgess", {}, spec)

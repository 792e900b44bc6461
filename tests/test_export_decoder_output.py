"""A decoder that ends in a sigmoid is caught at export (the spec promises Bernoulli logits)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from vmieval.checkpoints.exported import load_exported
from vmieval.errors import UsageError
from vmieval.export import export_model
from vmieval.spec import ModelSpec, categorical, gaussian

SPEC = ModelSpec((1, 8, 8), (gaussian("z", 2), categorical("c", 3)))


def _parts() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(64, SPEC.param_width))
    logits = nn.Sequential(nn.Linear(SPEC.latent_width, 64), nn.Unflatten(1, (1, 8, 8)))
    return encoder.eval(), logits.eval()


def test_sigmoid_decoder_is_refused_with_a_one_line_hint(tmp_path: Path) -> None:
    encoder, logits = _parts()
    with pytest.raises(UsageError, match="--decoder-output probabilities") as info:
        export_model(tmp_path / "m.pt2", SPEC, encoder, nn.Sequential(logits, nn.Sigmoid()))
    assert "\n" not in str(info.value)
    assert not (tmp_path / "m.pt2").exists()


def test_probabilities_are_converted_back_to_the_same_logits(tmp_path: Path) -> None:
    encoder, logits = _parts()
    path = export_model(
        tmp_path / "m.pt2", SPEC, encoder, nn.Sequential(logits, nn.Sigmoid()), decoder_output="probabilities"
    )
    model = load_exported(path, trust=True)
    z = torch.randn(4, SPEC.latent_width, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = logits(z)
    assert torch.allclose(model.decode(z), expected, atol=1e-4)


def test_logits_decoder_exports_without_a_flag(tmp_path: Path) -> None:
    encoder, logits = _parts()
    assert export_model(tmp_path / "m.pt2", SPEC, encoder, logits).exists()


def test_cli_converts_a_sigmoid_decoder_with_decoder_output(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from vmieval.cli.main import cli

    builder = tmp_path / "sigmoid_model.py"
    builder.write_text(
        "import torch\n"
        "from torch import nn\n"
        "from vmieval.spec import ModelSpec, categorical, gaussian\n"
        "def build():\n"
        "    torch.manual_seed(0)\n"
        "    spec = ModelSpec((1, 8, 8), (gaussian('z', 2), categorical('c', 3)))\n"
        "    enc = nn.Sequential(nn.Flatten(), nn.Linear(64, spec.param_width))\n"
        "    dec = nn.Sequential(nn.Linear(spec.latent_width, 64), nn.Unflatten(1, (1, 8, 8)), nn.Sigmoid())\n"
        "    return spec, enc.eval(), dec.eval()\n"
    )
    runner = CliRunner()
    refused = runner.invoke(cli, ["export", "--module-file", f"{builder}:build", str(tmp_path / "a.pt2")])
    assert refused.exit_code == 2 and "--decoder-output probabilities" in refused.output
    done = runner.invoke(
        cli,
        ["export", "--module-file", f"{builder}:build", "--decoder-output", "probabilities", str(tmp_path / "b.pt2")],
    )
    assert done.exit_code == 0, done.output
    assert (tmp_path / "b.pt2").exists()

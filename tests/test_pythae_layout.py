"""pythae model folders built here byte for byte as pythae 0.1.2 writes them, without pythae installed.

The layout is taken from pythae 0.1.2's source: `BaseAE.save` writes `model.pt` (`torch.save({"model_state_dict":
state_dict})`), `model_config.json` (the config dataclass as JSON, `name` = its class name) and
`environment.json`; the trainer adds `training_config.json`; custom networks add `encoder.pkl` / `decoder.pkl`
(cloudpickle). The state-dict names and shapes below are those of `Encoder_VAE_MLP` and `Decoder_AE_MLP` in
`pythae/models/nn/default_architectures.py`, written out here independently of vmieval's rebuild.
`tests/test_pythae.py` checks the same against folders pythae itself trains and saves.
"""

from __future__ import annotations

import json
import math
import pickle
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from hostile_files import torch_zip_with_pickle
from vmieval.cli.main import cli

from vmieval.architectures import build_architecture
from vmieval.checkpoints import describe_checkpoint, load_checkpoint
from vmieval.errors import CheckpointError, TrustRequired, UsageError
from vmieval.spec import ModelSpec, gaussian


def pythae_state(input_dim: tuple[int, ...], latent: int, seed: int = 0) -> OrderedDict[str, torch.Tensor]:
    pixels = math.prod(input_dim)
    shapes = {
        "decoder.layers.0.0.weight": (512, latent),
        "decoder.layers.0.0.bias": (512,),
        "decoder.layers.1.0.weight": (pixels, 512),
        "decoder.layers.1.0.bias": (pixels,),
        "encoder.layers.0.0.weight": (512, pixels),
        "encoder.layers.0.0.bias": (512,),
        "encoder.embedding.weight": (latent, 512),
        "encoder.embedding.bias": (latent,),
        "encoder.log_var.weight": (latent, 512),
        "encoder.log_var.bias": (latent,),
    }
    g = torch.Generator().manual_seed(seed)
    return OrderedDict((k, 0.05 * torch.randn(s, generator=g)) for k, s in shapes.items())


def save_folder(
    folder: Path,
    name: str = "BetaVAEConfig",
    loss: str = "bce",
    input_dim: tuple[int, ...] = (1, 28, 28),
    latent: int = 4,
    state: dict | None = None,
    **config: object,
) -> Path:
    """A folder as pythae's `model.save` + trainer write it."""
    folder.mkdir(parents=True)
    state = pythae_state(input_dim, latent) if state is None else state
    torch.save({"model_state_dict": state}, folder / "model.pt")
    doc = {"name": name, "input_dim": list(input_dim), "latent_dim": latent, "uses_default_encoder": True,
           "uses_default_decoder": True, "reconstruction_loss": loss, "beta": 2.0, **config}  # fmt: skip
    (folder / "model_config.json").write_text(json.dumps(doc))
    (folder / "environment.json").write_text(json.dumps({"name": "EnvironmentConfig", "python_version": "3.11"}))
    training = {"name": "BaseTrainerConfig", "num_epochs": 3, "learning_rate": 1e-4, "per_device_train_batch_size": 64}
    (folder / "training_config.json").write_text(json.dumps(training))
    return folder


def by_hand(state: dict, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """pythae's forward pass written out: (mean, log-variance) of x, and the decoder's pre-sigmoid output at mean."""
    h = F.relu(F.linear(x.flatten(1), state["encoder.layers.0.0.weight"], state["encoder.layers.0.0.bias"]))
    mean = F.linear(h, state["encoder.embedding.weight"], state["encoder.embedding.bias"])
    log_var = F.linear(h, state["encoder.log_var.weight"], state["encoder.log_var.bias"])
    g = F.relu(F.linear(mean, state["decoder.layers.0.0.weight"], state["decoder.layers.0.0.bias"]))
    return mean, log_var, F.linear(g, state["decoder.layers.1.0.weight"], state["decoder.layers.1.0.bias"])


def test_rebuild_has_pythae_key_names() -> None:
    spec = ModelSpec((1, 28, 28), (gaussian("z", 4),))
    module = build_architecture("pythae-mlp", {}, spec)
    want = pythae_state((1, 28, 28), 4)
    assert {k: tuple(v.shape) for k, v in module.state_dict().items()} == {k: tuple(v.shape) for k, v in want.items()}


@pytest.mark.parametrize("point_at", ["folder", "model.pt"])
def test_bce_folder_is_pythae_s_function_with_logits(tmp_path: Path, point_at: str) -> None:
    folder = save_folder(tmp_path / "final_model")
    model = load_checkpoint(folder if point_at == "folder" else folder / "model.pt")
    assert model.spec.likelihood == "bernoulli" and model.spec.observation_shape == (1, 28, 28)
    assert [(b.kind, b.name, b.size) for b in model.spec.blocks] == [("gaussian", "z", 4)]
    state = torch.load(folder / "model.pt", weights_only=True)["model_state_dict"]
    x = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    mean, log_var, logits = by_hand(state, x)
    with torch.no_grad():
        torch.testing.assert_close(model.encode_params(x), torch.cat([mean, log_var], 1))
        torch.testing.assert_close(model.decode(mean), logits.view(5, 1, 28, 28))
    assert model.info.format == "pythae" and model.info.metadata["training"]["epochs"] == 3


def test_mse_folder_is_a_unit_gaussian_on_the_sigmoid_means(tmp_path: Path) -> None:
    folder = save_folder(tmp_path / "m", name="VAEConfig", loss="mse", input_dim=(28, 28))
    model = load_checkpoint(folder)
    assert model.spec.likelihood == "gaussian" and model.spec.likelihood_scale == 1.0
    assert model.spec.observation_shape == (1, 28, 28)  # pythae's (H, W) is one channel
    state = torch.load(folder / "model.pt", weights_only=True)["model_state_dict"]
    x = torch.rand(3, 1, 28, 28)
    mean, _, logits = by_hand(state, x)
    with torch.no_grad():
        torch.testing.assert_close(model.decode(mean), torch.sigmoid(logits).view(3, 1, 28, 28))


def test_factor_vae_discriminator_is_left_out(tmp_path: Path) -> None:
    state = pythae_state((1, 8, 8), 3)
    state["discriminator.layers.0.weight"] = torch.zeros(1000, 3)
    state["discriminator.layers.0.bias"] = torch.zeros(1000)
    assert load_checkpoint(save_folder(tmp_path / "f", "FactorVAEConfig", input_dim=(1, 8, 8), latent=3, state=state))
    with pytest.raises(CheckpointError, match="unexpected: 'discriminator"):
        load_checkpoint(save_folder(tmp_path / "v", "VAEConfig", input_dim=(1, 8, 8), latent=3, state=state))


def test_inspect_describes_a_folder(tmp_path: Path) -> None:
    folder = save_folder(tmp_path / "final_model")
    info = describe_checkpoint(folder)
    assert info["format"] == "pythae" and info["tensors"] == 10
    assert info["metadata"]["training"]["objective"] == "pythae BetaVAE (bce reconstruction, beta=2.0)"
    result = CliRunner().invoke(cli, ["inspect", str(folder)])
    assert result.exit_code == 0, result.output
    assert "pythae-mlp" in result.stdout and "gaussian(z, 4)" in result.stdout


def _drop(key: str):
    def edit(folder: Path) -> None:
        state = pythae_state((1, 28, 28), 4)
        del state[key]
        torch.save({"model_state_dict": state}, folder / "model.pt")

    return edit


def _config(**changes: object):
    def edit(folder: Path) -> None:
        doc = json.loads((folder / "model_config.json").read_text())
        (folder / "model_config.json").write_text(json.dumps({**doc, **changes}))

    return edit


def _resize(folder: Path) -> None:
    state = pythae_state((1, 28, 28), 4)
    state["encoder.embedding.weight"] = torch.zeros(4, 256)
    torch.save({"model_state_dict": state}, folder / "model.pt")


BROKEN = {
    "no_model_config": (lambda f: (f / "model_config.json").unlink(), 3, "model_config.json beside model.pt"),
    "no_model_pt": (lambda f: (f / "model.pt").unlink(), 3, "model.pt beside model_config.json"),
    "no_state_dict_key": (lambda f: torch.save({"state": {}}, f / "model.pt"), 3, "no 'model_state_dict'"),
    "missing_tensor": (_drop("encoder.log_var.bias"), 3, "missing: 'encoder.log_var.bias'"),
    "mismatched_shape": (_resize, 3, "size mismatch for encoder.embedding.weight"),
    "config_not_json": (lambda f: (f / "model_config.json").write_text("{nope"), 3, "not valid JSON"),
    "unknown_model": (_config(name="MyVAEConfig"), 3, "names 'MyVAEConfig', not a pythae model"),
    "unsupported_model": (_config(name="VAMPConfig"), 3, "VampPrior"),
    "latent_dim_string": (_config(latent_dim="4"), 3, "latent_dim must be an integer"),
    "input_dim_flat": (_config(input_dim=[784]), 3, "input_dim [784] is flat"),
    "latent_dim_disagrees": (_config(latent_dim=5), 3, "size mismatch"),
    "unknown_loss": (_config(reconstruction_loss="l1"), 3, "reconstruction_loss must be"),
    "custom_encoder": (_config(uses_default_encoder=False), 4, "custom networks (encoder.pkl)"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_folder_is_one_line_and_its_exit_code(tmp_path: Path, case: str) -> None:
    edit, code, fragment = BROKEN[case]
    folder = save_folder(tmp_path / "m")
    edit(folder)
    result = CliRunner().invoke(cli, ["mi-bound", str(folder), "--dataset", "mnist-sample"])
    assert result.exit_code == code, result.output
    assert result.stderr.count("\n") == 1 and fragment in result.stderr, result.stderr


class _Marker:
    """Unpickling this writes a file: proof that a pickle ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path(self.path).touch, ())


@pytest.mark.parametrize("trust", [False, True])
def test_custom_networks_are_never_unpickled(tmp_path: Path, trust: bool) -> None:
    folder = save_folder(tmp_path / "m", uses_default_encoder=False, uses_default_decoder=False)
    marker = tmp_path / "ran"
    for part in ("encoder", "decoder"):
        (folder / f"{part}.pkl").write_bytes(pickle.dumps(_Marker(str(marker))))
    expected = TrustRequired if not trust else CheckpointError
    with pytest.raises(expected, match="encoder.pkl and decoder.pkl") as caught:
        load_checkpoint(folder, trust=trust)
    assert ("vmieval export" in str(caught.value)) == trust
    assert describe_checkpoint(folder)["metadata"]["architecture"]["name"].startswith("pythae custom networks")
    assert not marker.exists()


def test_a_folder_that_is_not_pythae_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a directory"):
        load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="not a pythae model folder"):
        load_checkpoint(tmp_path, format="pythae")


def test_model_pt_is_read_through_the_loader_s_bounds(tmp_path: Path) -> None:
    """A model.pt whose pickle names code, or whose tensor is a stride-0 view of 30000 x 30000 floats,
    is refused like any checkpoint: nothing runs, nothing huge is allocated."""
    marker = tmp_path / "ran"
    code = save_folder(tmp_path / "code")
    torch_zip_with_pickle(code / "model.pt", pickle.dumps({"model_state_dict": _Marker(str(marker))}))
    view = save_folder(tmp_path / "view")
    state = pythae_state((1, 28, 28), 4)
    state["encoder.embedding.weight"] = torch.zeros(30000).expand(30000, 30000)
    torch.save({"model_state_dict": state}, view / "model.pt")
    for folder, fragment in ((code, "other than tensors"), (view, "expanded or overlapping view")):
        result = CliRunner().invoke(cli, ["mi-bound", str(folder), "--dataset", "mnist-sample"])
        assert result.exit_code == 3 and result.stderr.count("\n") == 1 and fragment in result.stderr, result.stderr
    assert not marker.exists()

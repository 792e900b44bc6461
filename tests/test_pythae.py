"""Models pythae itself trains and saves, read by vmieval (pythae 0.1.2, the `test` extra; skipped without it).

pythae installs beside vmieval's torch (`pip install -e .[test]`), so these tests use its own trainer and
`model.save`, and compare vmieval's rebuilt networks with pythae's on the same inputs. The saved layout is
also built by hand, without pythae, in `tests/test_pythae_layout.py`.
"""

from __future__ import annotations

import json
import random
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from vmieval.cli.main import cli

from vmieval.checkpoints import load_checkpoint
from vmieval.export import export_from_file

pythae_models = pytest.importorskip("pythae.models")
from pythae.models.base.base_utils import ModelOutput  # noqa: E402
from pythae.models.nn import BaseEncoder  # noqa: E402
from pythae.pipelines import TrainingPipeline  # noqa: E402
from pythae.trainers import BaseTrainerConfig  # noqa: E402

SHAPE = (1, 28, 28)


@pytest.fixture(autouse=True)
def _keep_global_rng():
    """pythae's trainer seeds the global generators; leave them as the next test expects."""
    states = torch.random.get_rng_state(), np.random.get_state(), random.getstate()
    yield
    torch.random.set_rng_state(states[0])
    np.random.set_state(states[1])
    random.setstate(states[2])


def _images(n: int = 64) -> torch.Tensor:
    return (torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(0)) > 0.7).float()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """A BetaVAE (bce) trained by pythae's own pipeline for one epoch; its `final_model` folder."""
    states = torch.random.get_rng_state(), np.random.get_state(), random.getstate()
    out = tmp_path_factory.mktemp("pythae")
    model = pythae_models.BetaVAE(
        pythae_models.BetaVAEConfig(input_dim=SHAPE, latent_dim=4, reconstruction_loss="bce", beta=2.0)
    )
    config = BaseTrainerConfig(output_dir=str(out), num_epochs=1, per_device_train_batch_size=32, no_cuda=True)
    pipeline = TrainingPipeline(model=model, training_config=config)
    pipeline(train_data=_images(), eval_data=_images(32))
    torch.random.set_rng_state(states[0])
    np.random.set_state(states[1])
    random.setstate(states[2])
    return Path(pipeline.trainer.training_dir) / "final_model", pipeline.trainer.model


def _same_function(folder: Path, pythae_model, sigmoid: bool) -> None:
    """vmieval's encoder equals pythae's (mean, log-variance); its decoder equals pythae's output, before
    (bce: logits, so sigmoid them) or with (mse) pythae's final sigmoid."""
    ours = load_checkpoint(folder)
    pythae_model.eval()
    x = _images(8)
    z = torch.randn(8, pythae_model.latent_dim, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        out = pythae_model.encoder(x)
        torch.testing.assert_close(ours.encode_params(x), torch.cat([out.embedding, out.log_covariance], 1))
        decoded = ours.decode(z)
        torch.testing.assert_close(torch.sigmoid(decoded) if sigmoid else decoded,
                                   pythae_model.decoder(z).reconstruction.view(8, *SHAPE))  # fmt: skip


def test_pythae_trained_beta_vae_loads_as_the_same_function(trained) -> None:
    folder, model = trained
    assert sorted(p.name for p in folder.iterdir()) == [
        "environment.json", "model.pt", "model_config.json", "training_config.json"]  # fmt: skip
    _same_function(folder, model, sigmoid=True)
    info = load_checkpoint(folder).info
    assert info.metadata["training"]["epochs"] == 1 and info.metadata["pythae_model"] == "BetaVAE"


@pytest.mark.parametrize("name", ["VAE", "FactorVAE", "BetaTCVAE", "IWAE"])
def test_saved_mse_models_load_as_the_same_function(tmp_path: Path, name: str) -> None:
    config = getattr(pythae_models, f"{name}Config")(input_dim=SHAPE, latent_dim=3, reconstruction_loss="mse")
    model = getattr(pythae_models, name)(config)
    model.save(str(tmp_path / name))
    _same_function(tmp_path / name, model, sigmoid=False)
    assert load_checkpoint(tmp_path / name).spec.likelihood_scale == 1.0


def test_mi_bound_and_inspect_on_the_folder(trained) -> None:
    folder, _ = trained
    inspected = CliRunner().invoke(cli, ["inspect", "--json", str(folder)])
    assert inspected.exit_code == 0, inspected.output
    assert json.loads(inspected.stdout)["metadata"]["spec"]["blocks"] == [{"kind": "gaussian", "name": "z", "size": 4}]
    args = ["mi-bound", str(folder), "--dataset", "mnist-sample", "--limit", "100", "--samples", "300",
            "--max-epochs", "2", "--json"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    mi = doc[doc["attrs"]["models"][0]]["mi"]
    # Gaussian-only: the default target is z dims (the two with the highest KL), one target for the decoder side
    assert all(t.startswith("z[") for t in mi["target"])
    assert len({t for t, side in zip(mi["target"], mi["side"], strict=True) if side == "decoder"}) == 1
    assert all(np.isfinite(mi["value"]))


class LinearEncoder(BaseEncoder):
    """A custom network: pythae pickles it (cloudpickle) into encoder.pkl."""

    def __init__(self) -> None:
        BaseEncoder.__init__(self)
        self.net = torch.nn.Linear(28 * 28, 6)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        out = self.net(x.flatten(1))
        return ModelOutput(embedding=out[:, :3], log_covariance=out[:, 3:])


# The recipe of docs/checkpoints.md, "Importing pythae": your own Python loads the pickles, vmieval exports.
RECIPE = textwrap.dedent("""
    import torch
    from pythae.models import AutoModel
    from vmieval.spec import ModelSpec, gaussian


    def build(folder):
        model = AutoModel.load_from_folder(folder).eval()  # unpickles encoder.pkl / decoder.pkl
        config = model.model_config
        bce = config.reconstruction_loss == "bce"
        spec = ModelSpec(
            observation_shape=tuple(config.input_dim),
            blocks=(gaussian("z", config.latent_dim),),
            likelihood="bernoulli" if bce else "gaussian",
            likelihood_scale=None if bce else 1.0,
        )

        def encode(x):
            out = model.encoder(x)
            return torch.cat([out.embedding, out.log_covariance], dim=1)

        def decode(z):
            return model.decoder(z).reconstruction

        return spec, encode, decode
""")


def test_custom_networks_need_the_export_recipe(tmp_path: Path) -> None:
    config = pythae_models.VAEConfig(input_dim=SHAPE, latent_dim=3, reconstruction_loss="bce")
    model = pythae_models.VAE(config, encoder=LinearEncoder())
    model.save(str(tmp_path / "custom"))
    assert (tmp_path / "custom" / "encoder.pkl").exists()
    for extra, code, fragment in (([], 4, "custom networks (encoder.pkl)"), (["--trust"], 3, "vmieval export")):
        refused = CliRunner().invoke(cli, ["mi-bound", str(tmp_path / "custom"), "--dataset", "mnist-sample", *extra])
        assert refused.exit_code == code and fragment in refused.stderr and refused.stderr.count("\n") == 1
    (tmp_path / "pythae_export.py").write_text(RECIPE)
    archive = tmp_path / "custom.pt2"
    target, folder = f"{tmp_path / 'pythae_export.py'}:build", str(tmp_path / "custom")
    export_from_file(target, archive, args={"folder": folder}, decoder_output="probabilities")  # pythae's sigmoid
    ours = load_checkpoint(archive, trust=True)
    x = _images(4)
    with torch.no_grad():
        out = model.encoder(x)
        torch.testing.assert_close(ours.encode_params(x), torch.cat([out.embedding, out.log_covariance], 1))
        z = torch.randn(4, 3, generator=torch.Generator().manual_seed(3))
        probabilities = model.decoder(z).reconstruction.view(4, *SHAPE)
        torch.testing.assert_close(torch.sigmoid(ours.decode(z)), probabilities, atol=1e-5, rtol=1e-4)

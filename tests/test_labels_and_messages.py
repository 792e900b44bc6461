"""Labels, notes, messages and help a new user reads (issue 18): no Gaussian row mentions K, a negative
critic bound and a decoder-side bound above the KL bound carry their note, messages name the option that
fixes them, every option has help, names come from paths when file stems collide, and a report on data
with factors draws the factor heatmap and the per-latent bars."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
import torch
from click.testing import CliRunner
from shared_paths import FIXTURE_MODELS
from vmieval.cli.main import COMMANDS, VmievalGroup, cli

from vmieval.checkpoints import describe_checkpoint, load_checkpoint
from vmieval.errors import CheckpointError, UsageError
from vmieval.estimators.estimate import Estimate, qualify
from vmieval.results.report import unique_names


def row(family: str, value: float, side: str = "decoder", target: str = "z[0:2]", **kw: object) -> Estimate:
    quantity = "I(t;x_hat)" if side == "decoder" else "I_q(x;t)"
    kind = "upper_bound" if family == "kl" else "lower_bound"
    return Estimate(quantity, target, side, kind, family, value, 0.01, 100, "test", **kw)  # type: ignore[arg-type]


def test_no_gaussian_row_mentions_k() -> None:
    paper = row("barber-agakov", 1.0, entropy="paper", valid=False)
    assert "K" not in paper.label and "prior entropy" in paper.label


def test_negative_critic_bounds_and_bounds_above_kl_get_their_note() -> None:
    rows = [row("kl", 2.32, side="encoder"), row("barber-agakov", 5.33), row("infonce", -0.2), row("nwj", 0.1)]
    kl, ba, nce, nwj = qualify(rows)
    assert "above_kl" in ba.flags and "decoded from the sampled code" in ba.note and ba.value == 5.33
    assert "negative" in nce.flags and "only I >= 0" in nce.note and nce.value == -0.2
    assert not nwj.flags and not kl.flags
    parts = [row("kl", 0.5, side="encoder", target="z[1:2]"), row("kl", 0.5, side="encoder", target="z[4:5]")]
    (*_, joint) = qualify([*parts, row("barber-agakov", 1.5, target="z[1:2],z[4:5]")])
    assert "above_kl" in joint.flags  # the parts' KL rows add up to the target's bound


def test_names_from_paths_when_stems_collide() -> None:
    paths = ["runs/beta4/seed1/model.pt", "runs/beta8/seed1/model.pt"]
    assert unique_names(["model", "model"], paths) == ["beta4-seed1-model", "beta8-seed1-model"]
    assert unique_names(["a", "b"], ["x/a.pt", "y/b.pt"]) == ["a", "b"]
    assert unique_names(["model", "model"], ["model.pt", "model.pt"]) == ["model", "model-2"]


def test_foreign_file_names_the_checkpoint_format_option_and_every_known_format(tmp_path: Path) -> None:
    path = tmp_path / "state.pt"
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert "--checkpoint-format (known: native, exported, jointvae, pythae" in message and "--format" not in message


def test_safetensors_is_recognised(tmp_path: Path) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    path = tmp_path / "model.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header + bytes(8))
    with pytest.raises(CheckpointError, match="a safetensors file: tensors only"):
        load_checkpoint(path)


def test_inspect_takes_checkpoint_format() -> None:
    model = str(FIXTURE_MODELS / "sample-joint-mi.pt")
    ok = CliRunner().invoke(cli, ["inspect", model, "--checkpoint-format", "native", "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["format"] == "native"
    wrong = CliRunner().invoke(cli, ["inspect", model, "--checkpoint-format", "jointvae"])
    assert wrong.exit_code == 3 and "not 'jointvae'" in wrong.stderr
    assert describe_checkpoint(model, "auto")["format"] == "native"


def all_commands() -> list[click.Command]:
    group = VmievalGroup()
    ctx = click.Context(cli)
    return [c for name in COMMANDS if (c := group.get_command(ctx, name)) is not None]


def test_every_option_has_help_and_seed_shows_no_int64_range() -> None:
    for command in all_commands():
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{command.name} {param.opts} has no help"
    for name in ("mi-bound", "report", "train-reference"):
        text = CliRunner().invoke(cli, [name, "--help"]).output
        assert "9223372036854775808" not in text and "--seed INTEGER" in text


def test_top_level_summaries_are_whole() -> None:
    text = CliRunner().invoke(cli, ["--help"]).output
    assert "…" not in text
    assert "training record." in text  # the end of inspect's summary


def test_preset_is_a_choice() -> None:
    result = CliRunner().invoke(cli, ["train-reference", "--preset", "nope"])
    assert result.exit_code == 2 and "is not one of" in result.stderr


def test_name_count_must_match_the_checkpoints() -> None:
    a = str(FIXTURE_MODELS / "sample-joint-mi.pt")
    result = CliRunner().invoke(cli, ["report", a, a, "--name", "only-one"])
    assert result.exit_code == 2 and "--name" in result.stderr


def test_report_on_factor_data_draws_the_heatmap_and_the_latent_bars(tmp_path: Path) -> None:
    from vmieval.data import open_for_model
    from vmieval.results import ReportConfig, build_report, write_outputs

    model = load_checkpoint(FIXTURE_MODELS / "sprites-gauss10-mi.pt")
    data = open_for_model(model, "sprites", limit=120)
    report = build_report(model, data, "sprites", ReportConfig(mi=None))
    written = write_outputs([report], tmp_path)
    names = {p.name for p in written.pngs}
    assert {"sprites-factors.png", "sprites-latents.png"} <= names
    assert report.latents is not None and report.latents.n == 120


def test_open_for_model_without_a_recorded_dataset_asks_for_data() -> None:
    from vmieval.data import open_for_model

    model = load_checkpoint(FIXTURE_MODELS / "sample-joint-mi.pt")
    model.info.metadata.get("training", {}).pop("dataset", None)
    assert "dataset" not in model.training_record
    with pytest.raises(UsageError, match="records no training dataset; pass --data"):
        open_for_model(model)


class GuardedEncoder(torch.nn.Module):
    """Specialises on the batch size, as some users' models do: torch.export suggests a cap."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x.flatten(1))
        return out * 2 if x.shape[0] > 63 else out


def tanh_decoder() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Unflatten(1, (1, 4, 4)))


SMALL_SPEC = {"observation_shape": [1, 4, 4], "blocks": [{"kind": "gaussian", "name": "z", "size": 2}]}


def test_export_passes_on_torch_exports_fix_and_max_batch_applies_it(tmp_path: Path) -> None:
    from vmieval.export import export_model

    spec = {**SMALL_SPEC, "likelihood": "gaussian", "likelihood_scale": 1.0}
    with pytest.raises(UsageError, match=r"torch.export suggests .*max=63.*: pass --max-batch 63"):
        export_model(tmp_path / "a.pt2", spec, GuardedEncoder(), tanh_decoder())
    path = export_model(tmp_path / "a.pt2", spec, GuardedEncoder(), tanh_decoder(), max_batch=63)
    model = load_checkpoint(path, trust=True)
    params = model.encode(torch.rand(150, 1, 4, 4))["z"]
    assert params.mean.shape == (150, 2)  # run in chunks of at most 63


def test_export_likelihood_and_sigma_and_the_range_warning(tmp_path: Path) -> None:
    from vmieval.export import export_model

    said: list[str] = []
    path = export_model(tmp_path / "b.pt2", SMALL_SPEC, torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 4)),
                        tanh_decoder(), likelihood="gaussian", sigma=1.24, warn=said.append)  # fmt: skip
    assert len(said) == 1 and '"value_range": [-1, 1]' in said[0]
    spec = load_checkpoint(path, trust=True).spec
    assert spec.likelihood == "gaussian" and spec.likelihood_scale == pytest.approx(1.24)
    with pytest.raises(UsageError, match="needs --sigma"):
        export_model(tmp_path / "c.pt2", SMALL_SPEC, GuardedEncoder(), tanh_decoder(), likelihood="gaussian")
    with pytest.raises(UsageError, match="add --likelihood gaussian"):
        export_model(tmp_path / "c.pt2", SMALL_SPEC, GuardedEncoder(), tanh_decoder(), sigma=0.5)


def test_a_report_warns_when_decoder_means_miss_the_data_range(tmp_path: Path) -> None:
    from vmieval.data import ImageData
    from vmieval.export import export_model
    from vmieval.results import ReportConfig, build_report

    spec = {**SMALL_SPEC, "likelihood": "gaussian", "likelihood_scale": 0.5}
    encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 4))
    path = export_model(tmp_path / "t.pt2", spec, encoder, tanh_decoder())
    images = ImageData(torch.rand(40, 1, 4, 4), None, "toy", "test", "memory")
    report = build_report(load_checkpoint(path, trust=True), images, "t", ReportConfig(mi=None))
    assert '"value_range": [-1, 1]' in report.notes["likelihood"]

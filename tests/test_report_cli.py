"""`vmieval report`: exit codes, the --json document, output files and refusal to overwrite."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest
import torch
from click.testing import CliRunner
from shared_paths import FIXTURE_MODELS
from vmieval.cli.main import cli

from vmieval.architectures import build_architecture
from vmieval.checkpoints import save_native
from vmieval.spec import ModelSpec, categorical, gaussian

FAST = ["--dataset", "mnist-sample", "--limit", "100", "--samples", "100", "--max-epochs", "5", "--q-hidden", "32"]
FAST += ["--folds", "2"]  # two Q fits instead of five; every decoder-side row is still there


def checkpoint(path: Path, spec: ModelSpec, seed: int) -> Path:
    torch.manual_seed(seed)
    module = build_architecture("mlp", {"hidden": [16]}, spec)
    history = [{"epoch": 1, "elbo": -400.0}, {"epoch": 2, "elbo": -300.0}]
    return save_native(path, module, "mlp", {"hidden": [16]}, spec, {"seed": seed, "history": history})


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    spec = ModelSpec((1, 28, 28), (gaussian("z", 3), categorical("c", 10)))
    return checkpoint(tmp_path / "elbo.pt", spec, 0), checkpoint(tmp_path / "mi.pt", spec, 1)


def run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args))


def test_compare_json_is_the_document_and_files_are_written(pair: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "rep"
    result = run("report", "--compare", str(pair[0]), str(pair[1]), *FAST, "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # stdout holds the JSON only; progress went to stderr
    assert doc["attrs"]["models"] == ["elbo", "mi"]
    assert doc["comparison"]["attrs"]["baseline"] == "elbo"
    assert len(doc["comparison"]["values"][0]) == 2 and len(doc["comparison"]["difference"][0]) == 1
    assert doc["mi"]["cluster"]["attrs"]["n"] == 100
    assert doc["mi"]["training"]["elbo"] == [-400.0, -300.0]
    assert any(not v for v in doc["mi"]["mi"]["valid"])  # the paper's log K row is flagged
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert "elbo-categories_c.png" in pngs and "mi-categories_c.png" in pngs
    with h5py.File(out / "report.h5", "r") as f:
        assert set(f) == {"elbo", "mi", "comparison"}
        assert f["comparison/metric"].asstr()[()].tolist() == doc["comparison"]["metric"]


def test_existing_output_needs_force(pair: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "rep"
    args = ["report", str(pair[0]), *FAST, "--no-mi", "--out", str(out)]
    assert run(*args).exit_code == 0
    again = run(*args)
    assert again.exit_code == 6
    assert again.stderr.strip().count("\n") == 0 and "--force" in again.stderr and "report.h5" in again.stderr
    assert run(*args, "--force").exit_code == 0


def test_table_output_and_default_folder(pair: tuple[Path, Path], tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("report", str(pair[1]), *FAST, "--no-mi")
    assert result.exit_code == 0, result.output
    assert "Hungarian" in result.stdout and "ELBO" in result.stdout  # rows of the metric table
    assert "label x c" in result.stdout  # the contingency table
    assert "-300.000" in result.stdout  # the last epoch of the stored training history
    assert (tmp_path / "reports" / "mi" / "report.h5").is_file()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ((), 2, "give a checkpoint"),
        (("A", "B", "--name", "a"), 2, "--name"),
        (("--compare", "A"), 2, "two or more"),
        (("missing.pt",), 3, "no such file"),
    ],
)
def test_usage_and_checkpoint_errors(
    tmp_path: Path, monkeypatch, args: tuple[str, ...], code: int, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("report", *args, "--dataset", "mnist-sample")
    assert result.exit_code == code
    assert message in result.stderr and result.stderr.startswith("error: ")
    assert not (tmp_path / "reports").exists()  # nothing created for a run that failed


def test_dataset_defaults_to_the_one_the_checkpoints_were_trained_on(tmp_path: Path) -> None:
    spec = ModelSpec((1, 28, 28), (gaussian("z", 2),))
    torch.manual_seed(0)
    module = build_architecture("mlp", {"hidden": [16]}, spec)
    a = save_native(tmp_path / "a.pt", module, "mlp", {"hidden": [16]}, spec, {"dataset": "mnist-sample"})
    result = run("report", str(a), "--limit", "50", "--no-mi", "--out", str(tmp_path / "r"), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["a"]["attrs"]["dataset"] == "mnist-sample"
    b = save_native(tmp_path / "b.pt", module, "mlp", {"hidden": [16]}, spec, {"dataset": "fashion-mnist"})
    mixed = run("report", "--compare", str(a), str(b), "--no-mi", "--out", str(tmp_path / "r2"))
    assert mixed.exit_code == 2 and "pass --data" in mixed.stderr


def test_model_of_another_image_size_is_fitted_or_refused(tmp_path: Path) -> None:
    spec = ModelSpec((1, 32, 32), (gaussian("z", 2),))
    path = checkpoint(tmp_path / "big.pt", spec, 0)
    fitted = run("report", str(path), *FAST, "--no-mi", "--out", str(tmp_path / "a"))
    assert fitted.exit_code == 0, fitted.output
    assert "28x28 -> 32x32" in fitted.stderr
    wrong = run("report", str(path), *FAST, "--no-mi", "--image-size", "28", "--out", str(tmp_path / "b"))
    assert wrong.exit_code == 5 and "--image-size 32" in wrong.stderr


def test_traverse_dims_choose_the_grid_pair(tmp_path: Path) -> None:
    spec = ModelSpec((1, 28, 28), (gaussian("z", 4),))
    path = checkpoint(tmp_path / "g.pt", spec, 0)
    ok = run("report", str(path), *FAST, "--no-mi", "--traverse-dims", "2,3", "--out", str(tmp_path / "a"))
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "a" / "g-pair_z_2_3.png").is_file()
    bad = run("report", str(path), *FAST, "--no-mi", "--traverse-dims", "2", "--out", str(tmp_path / "b"))
    assert bad.exit_code == 2 and "--traverse-dims" in bad.stderr
    outside = run("report", str(path), *FAST, "--no-mi", "--traverse-dims", "0,9", "--out", str(tmp_path / "c"))
    assert outside.exit_code == 2 and "0..3" in outside.stderr


def test_report_and_mi_bound_share_one_q_policy() -> None:
    """Same Q options with the same defaults in both commands (MIConfig's)."""
    from vmieval.cli.mi_bound_cmd import mi_bound_command
    from vmieval.cli.report_cmd import report_command

    from vmieval.estimators.config import MIConfig

    defaults = [{p.name: p.default for p in command.params} for command in (report_command, mi_bound_command)]
    for name in ("target", "codes", "samples", "max_epochs", "patience", "q_arch", "q_hidden"):
        assert defaults[0][name] == defaults[1][name] == getattr(MIConfig, name), name


def test_report_and_mi_bound_agree_on_the_fixture_mi_model() -> None:
    """The decoder-side bounds of `report` and `mi-bound` on the same model, data and Q options agree
    within 3 combined standard errors (the report once fitted a smaller Q for fewer epochs)."""
    model = str(FIXTURE_MODELS / "sample-joint-mi.pt")
    common = ["--dataset", "mnist-sample", "--limit", "200", "--samples", "1000", "--q-hidden", "32", "--seed", "1"]
    common += ["--folds", "2"]  # every decoder-side row (the critic bounds need two folds or more), two Q fits
    report = run("report", model, *common, "--json")  # --json alone: the document, no files
    bound = run("mi-bound", model, *common, "--json")
    assert report.exit_code == 0 and bound.exit_code == 0, report.output + bound.output
    rows = []
    for doc in (json.loads(report.stdout), json.loads(bound.stdout)):
        mi = doc["sample-joint-mi"]["mi"]
        rows.append({k: (v, s) for k, v, s in zip(mi["key"], mi["value"], mi["stderr"], strict=True)})
        assert json.loads(doc["sample-joint-mi"]["attrs"]["settings"])["mi"]["q_hidden"] == 32
    decoder = [k for k in rows[1] if k.startswith("I(t;x_hat)")]
    assert decoder and set(rows[0]) == set(rows[1])
    for key in decoder:
        (a, sa), (b, sb) = rows[0][key], rows[1][key]
        assert abs(a - b) <= 3 * (sa**2 + sb**2) ** 0.5, (key, a, b)

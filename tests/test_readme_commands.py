"""Every command in the README's "Using it on your models" block, and its Python snippet, run as written.

Only what a command names is replaced, by fixtures: `model.pt`, `a.pt`, `b.pt` by the shipped models,
`~/data` by a small MNIST-layout folder, `dsprites.npz` by the sprites fixture, `pythae_run/final_model`
and `shapes3d.h5` by a pythae folder and an HDF5 file written here, `my_model.py` by a ten-line module,
`--device cuda` by cpu where there is no GPU. To stay fast, options that shrink the work are appended
(fewer images, Q pairs and epochs; one training epoch): they change how much is computed, not what.
The commands run in-process (click's CliRunner), in a temporary working folder.
"""

from __future__ import annotations

import json
import re
import shlex
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from idx_files import isolate_search, write_split
from shared_paths import FIXTURE_MODELS
from test_pythae_layout import save_folder
from vmieval.cli.main import cli

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
FAST_MI = ["--samples", "100", "--max-epochs", "1", "--folds", "2", "--q-hidden", "16", "--limit", "60"]
FAST = {"mi-bound": FAST_MI, "report": FAST_MI, "train-reference": ["--epochs", "1", "--limit", "64"]}

MY_MODEL = """
import torch
from torch import nn

def build():
    spec = {"observation_shape": [1, 28, 28], "blocks": [{"kind": "gaussian", "name": "z", "size": 2}]}
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, 4))
    decoder = nn.Sequential(nn.Linear(2, 784), nn.Unflatten(1, (1, 28, 28)))
    return spec, encoder, decoder
"""


def readme_commands() -> list[str]:
    """The `vmieval ...` lines of the README's first code block after "## Using it on your models"."""
    text = README.read_text()
    block = text[text.index("## Using it on your models") :]
    block = block[block.index("```") + 3 :]
    block = block[: block.index("```")]
    return [line for line in block.splitlines() if line.startswith("vmieval ")]


def readme_snippet() -> str:
    text = README.read_text()
    start = text.index("```python", text.index("## Using it on your models")) + len("```python")
    return text[start : text.index("```", start)]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """The fixtures the README's names stand for, in a temporary working folder."""
    isolate_search(monkeypatch, tmp_path)
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    write_split(data, "test", n=60)
    write_split(data, "train", n=64)
    monkeypatch.setenv("VMIEVAL_DATA", str(data))
    pythae = save_folder(tmp_path / "pythae_run" / "final_model", input_dim=(3, 64, 64), latent=3)
    rng = np.random.default_rng(0)
    with h5py.File(tmp_path / "shapes3d.h5", "w") as f:
        f["images"] = rng.integers(0, 256, (40, 64, 64, 3), dtype=np.uint8)
    (tmp_path / "my_model.py").write_text(textwrap.dedent(MY_MODEL))
    return {
        "model.pt": str(FIXTURE_MODELS / "sample-joint-mi.pt"),
        "a.pt": str(FIXTURE_MODELS / "sample-joint-elbo.pt"),
        "b.pt": str(FIXTURE_MODELS / "sample-joint-mi.pt"),
        "beta_vae.pt": str(FIXTURE_MODELS / "sprites-gauss10-mi.pt"),
        "dsprites.npz": str(REPO / "fixtures" / "sprites" / "sprites-test.npz"),
        "pythae_run/final_model": str(pythae),
        "~/data": str(data),
        "cuda": "cuda" if torch.cuda.is_available() else "cpu",
    }


def as_run(line: str, names: dict[str, str]) -> tuple[list[str], bool]:
    """(arguments after `vmieval`, whether stdout is redirected to a file) with the names replaced."""
    words = shlex.split(line, comments=True)[1:]
    redirected = ">" in words
    words = words[: words.index(">")] if redirected else words
    words = [names.get(w, w) for w in words]
    return [*words, *FAST.get(words[0], [])], redirected


def test_the_readme_names_the_commands_this_test_runs() -> None:
    commands = {shlex.split(line)[1] for line in readme_commands()}
    assert commands == {"inspect", "mi-bound", "report", "train-reference", "export"}


def as_param(line: str) -> object:
    """A README line as a test case; the `report` lines (figures, several seconds each) are marked slow."""
    marks = [pytest.mark.slow] if line.startswith("vmieval report ") else []
    return pytest.param(line, marks=marks, id=re.sub(r"\s+#.*", "", line)[8:60])


@pytest.mark.parametrize("line", [as_param(line) for line in readme_commands()])
def test_readme_command_runs_as_written(world: dict[str, str], line: str) -> None:
    args, redirected = as_run(line, world)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, f"{line}\n{result.output}"
    if redirected:
        json.loads(result.stdout)  # `--json > report.json` is a JSON document on stdout


def test_readme_python_snippet_runs(world: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code = readme_snippet().replace('"model.pt"', repr(world["model.pt"]))
    fast = 'MIConfig(target="c", samples=100, max_epochs=1, folds=2, q_hidden=16)'
    code = code.replace('MIConfig(target="c")', fast)
    exec(compile(code, "README.md", "exec"), {})
    assert "I(c; x_hat) >= Barber-Agakov" in capsys.readouterr().out


def readme_sweep_commands() -> list[str]:
    """The `vmieval ...` lines of the code block under "### Sweeps" (they run in order: merge reads the sweep)."""
    text = README.read_text()
    block = text[text.index("### Sweeps: many checkpoints") :]
    block = block[block.index("```") + 3 :]
    return [line for line in block[: block.index("```")].splitlines() if line.startswith("vmieval ")]


@pytest.mark.slow
def test_readme_sweep_commands_run_as_written(world: dict[str, str]) -> None:
    for folder, name in (("beta4/seed1", "b.pt"), ("beta8/seed1", "a.pt")):  # the glob's checkpoints
        (Path("runs") / folder).mkdir(parents=True)
        (Path("runs") / folder / "model.pt").write_bytes(Path(world[name]).read_bytes())
    report = CliRunner().invoke(cli, ["report", world["model.pt"], "--out", "reports/mine", "--no-mi", "--limit", "30"])
    assert report.exit_code == 0, report.output
    lines = readme_sweep_commands()
    assert [shlex.split(line)[1] for line in lines] == ["sweep", "merge"]
    for line in lines:
        args, _ = as_run(line, world)
        fast = ["--no-mi", "--limit", "30", "--workers", "1"] if args[0] == "sweep" else []
        result = CliRunner().invoke(cli, [*args, *fast])
        assert result.exit_code == 0, f"{line}\n{result.output}"
    merged = Path("sweeps/all/sweep.csv").read_text().splitlines()
    assert len(merged) == 1 + 3  # a header, the two swept models and the report folder's model
    assert "beta" in merged[0]  # the path's hyper-parameter is a column

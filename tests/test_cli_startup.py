"""The command line answers `--help`, a command's `--help` and usage errors without importing torch,
and `inspect` imports only what reading a checkpoint needs. Not timed (benchmarks/bench_startup.py
measures the start-up): a fresh interpreter runs the commands through CliRunner and reports which
heavy modules each one left in `sys.modules`.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from shared_paths import FIXTURE_MODELS, REPO
from vmieval.cli.main import COMMANDS, cli

HEAVY = ("torch", "torchvision", "scipy", "sklearn", "h5py", "matplotlib")

PROBE = """
import json, sys
from click.testing import CliRunner
from vmieval.cli.main import cli
heavy = json.loads(sys.argv[2])
report = []
for args in json.loads(sys.argv[1]):
    result = CliRunner().invoke(cli, args)
    loaded = sorted(m for m in heavy if m in sys.modules)
    report.append({"args": args, "exit": result.exit_code, "output": result.output, "loaded": loaded})
print(json.dumps(report))
"""


def probe(*cases: list[str], heavy: tuple[str, ...] = HEAVY) -> list[dict]:
    """Run `cases` in order in one fresh interpreter; per case: exit code, output, `heavy` modules loaded
    so far (a case that imports one is caught at that case, since the list only grows)."""
    cmd = [sys.executable, "-c", PROBE, json.dumps(list(cases)), json.dumps(heavy)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(proc.stdout)


def test_help_and_usage_errors_import_no_heavy_module() -> None:
    usage_errors = [
        ["frobnicate"],
        ["report", "--bogus"],
        ["mi-bound"],
        ["inspect", "model.pt", "--format", "xml"],
        ["train-reference", "--preset", "sample-joint", "--epochs", "many"],
        ["report"],  # refused by the command itself, before it imports anything heavy
        ["report", "--compare", "a.pt"],
        ["mi-bound", "a.pt", "--samples", "3"],
        ["train-reference", "--preset", "imagenet-joint"],
        ["export", "--module-file", "m.py:build", "--arg", "no-equals-sign", "out.pt2"],
    ]
    helps = [["--help"], *([name, "--help"] for name in COMMANDS)]
    for case in probe(*helps, *usage_errors):
        assert case["loaded"] == [], case["args"]
        if case["args"][-1] == "--help":
            assert case["exit"] == 0 and "Usage:" in case["output"], case
        else:
            assert case["exit"] == 2, case
            assert case["output"].startswith("error: ") and case["output"].strip().count("\n") == 0, case


def test_inspect_imports_only_the_checkpoint_reader() -> None:
    (case,) = probe(["inspect", str(FIXTURE_MODELS / "sample-joint-mi.pt")])
    assert case["exit"] == 0, case["output"]
    assert case["loaded"] == ["torch"]


def test_mi_bound_imports_no_plotting_or_scikit_learn() -> None:
    """The bound needs torch and scipy.special (its interval quantiles), nothing that draws or clusters."""
    args = ["mi-bound", str(FIXTURE_MODELS / "sample-joint-mi.pt"), "--samples", "200", "--max-epochs", "1"]
    (case,) = probe([*args, "--folds", "2", "--json"], heavy=("torch", "matplotlib", "sklearn", "scipy.stats"))
    assert case["exit"] == 0, case["output"]
    assert case["loaded"] == ["torch"]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_group_help_summaries_are_the_commands_own(name: str) -> None:
    """`vmieval --help` shows COMMANDS' summaries without importing the commands: they must not drift."""
    command = cli.get_command(None, name)  # type: ignore[arg-type]
    assert command is not None and command.name == name
    assert command.get_short_help_str(limit=1000) == COMMANDS[name][1]

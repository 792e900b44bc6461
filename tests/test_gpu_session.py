"""benchmarks/gpu_session.sh, tested where there is no GPU: its syntax, and a dry run that plans every
step (CUDA tests, CPU-vs-CUDA reports, paper models) and stops before any CUDA call or write."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_session.sh"


def test_syntax() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_dry_run_plans_everything_and_touches_nothing(tmp_path: Path) -> None:
    out = tmp_path / "results"
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(out), "JOINTVAE": str(tmp_path / "absent.pt")}
    done = subprocess.run(["bash", str(SCRIPT), "--dry-run"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "stopped before any CUDA call" in text
    assert "tests/test_device.py" in text and "--device cuda" in text and "--device cpu" in text
    assert "JointVAE comparison skipped" in text  # its checkpoint is absent here
    assert text.count("reproduce_paper.py train") == 4 and "sample-joint-paper" in text
    assert not out.exists()  # a dry run writes nothing


def test_unknown_argument_is_refused() -> None:
    done = subprocess.run(["bash", str(SCRIPT), "--bogus"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "unknown argument" in done.stderr

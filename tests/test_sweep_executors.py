"""The executors give the same merged table, and a killed sweep resumes where it stopped.

Ray runs in local mode (2 CPUs, no dashboard) and submitit on its local executor (processes) or its debug
executor (in this process); each is skipped when its extra is not installed (`make test` installs both).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sweep_models import CHEAP, DATA, InlineExecutor, make_grid

from vmieval.sweep import cache
from vmieval.sweep.executors import make_executor
from vmieval.sweep.plan import plan_jobs
from vmieval.sweep.run import run_sweep
from vmieval.sweep.table import to_csv

HERE = Path(__file__).resolve().parent


def _sweep(root: Path, folder: Path, executor) -> str:
    paths = sorted((root).glob("**/model.pt"))
    jobs = plan_jobs([str(p) for p in paths], DATA, CHEAP, folder, {"threads": 1})
    result = run_sweep(jobs, folder, executor)
    assert [r["status"] for r in result.table.rows] == ["done"] * len(jobs)
    assert all(r["seconds"] > 0 and r["worker"] for r in result.table.rows)
    for row in result.table.rows:  # when and where a job ran is not a result
        row["seconds"] = row["worker"] = None
    return to_csv(result.table)


def test_submitit_debug_executor_matches_an_inline_run(tmp_path: Path):
    pytest.importorskip("submitit")
    make_grid(tmp_path / "runs", lams=(1, 5), seeds=(0,))
    inline = _sweep(tmp_path / "runs", tmp_path / "inline", InlineExecutor())
    debug = make_executor("slurm", 1, 1, folder=tmp_path / "slurm", cluster="debug")
    assert _sweep(tmp_path / "runs", tmp_path / "debug", debug) == inline


@pytest.mark.slow
def test_local_ray_and_slurm_executors_give_identical_tables(tmp_path: Path):
    """The done-when check: six checkpoints, one table, whichever engine ran them."""
    pytest.importorskip("ray")
    pytest.importorskip("submitit")
    make_grid(tmp_path / "runs", lams=(1, 5, 20), seeds=(0, 1))
    local = _sweep(tmp_path / "runs", tmp_path / "local", make_executor("local", 2, 1))
    ray = _sweep(tmp_path / "runs", tmp_path / "ray", make_executor("ray", 2, 1))
    slurm = make_executor("slurm", 2, 1, folder=tmp_path / "slurm-logs", cluster="local")
    submitit = _sweep(tmp_path / "runs", tmp_path / "slurm", slurm)
    assert len(local.splitlines()) == 7
    assert local == ray == submitit


KILLED_SWEEP = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from sweep_models import CHEAP, DATA
from vmieval.sweep.executors import make_executor
from vmieval.sweep.plan import plan_jobs
from vmieval.sweep.run import run_sweep
from vmieval.sweep.table import to_csv

if __name__ == "__main__":
    paths = sorted(Path({runs!r}).glob("**/model.pt"))
    jobs = plan_jobs([str(p) for p in paths], DATA, CHEAP, Path({folder!r}), {{"threads": 1}})
    run_sweep(jobs, {folder!r}, make_executor("local", 1, 1))
"""


@pytest.mark.slow
def test_a_killed_sweep_reruns_only_the_unfinished_models(tmp_path: Path):
    make_grid(tmp_path / "runs", lams=(1, 5, 20), seeds=(0, 1))
    folder = tmp_path / "sweep"
    script = tmp_path / "sweep_script.py"
    script.write_text(KILLED_SWEEP.format(tests=str(HERE), runs=str(tmp_path / "runs"), folder=str(folder)))
    child = subprocess.Popen([sys.executable, str(script)], start_new_session=True)
    deadline = time.monotonic() + 120
    while len(list((folder / "cache").glob("[0-9a-f]*"))) < 2 and time.monotonic() < deadline:
        assert child.poll() is None, "the sweep ended before it could be killed"
        time.sleep(0.05)
    os.killpg(child.pid, signal.SIGKILL)  # the pool's worker too: nothing gets to clean up
    child.wait()
    done = {p.name for p in (folder / "cache").glob("[0-9a-f]*")}
    assert 2 <= len(done) < 6
    paths = sorted((tmp_path / "runs").glob("**/model.pt"))
    jobs = plan_jobs([str(p) for p in paths], DATA, CHEAP, folder, {"threads": 1})
    rerun = InlineExecutor()
    result = run_sweep(jobs, folder, rerun)
    assert sorted(rerun.evaluated) == sorted(j.name for j in jobs if j.key not in done)
    assert len(rerun.evaluated) == 6 - len(done)
    assert [r["status"] for r in result.table.rows] == ["done"] * 6
    assert not list((folder / "cache").glob(f"{cache.TMP_PREFIX}*"))

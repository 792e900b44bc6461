"""vmieval.sweep: keys, names, hyper-parameters, the cache as a unit, failures, resume, merge."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import h5py
import pytest
from sweep_models import CHEAP, DATA, InlineExecutor, make_grid

from vmieval.errors import UsageError
from vmieval.sweep import cache
from vmieval.sweep.hyperparams import path_hyperparameters, recorded_hyperparameters
from vmieval.sweep.merge import merge_paths
from vmieval.sweep.plan import expand_checkpoints, job_key, plan_jobs, sweep_names
from vmieval.sweep.run import SweepInterrupted, run_sweep
from vmieval.sweep.table import read_table


def test_names_come_from_the_distinguishing_folders():
    paths = ["runs/beta4/seed1/model.pt", "runs/beta8/seed1/model.pt", "runs/beta8/seed2/model.pt"]
    assert sweep_names(paths) == ["beta4-seed1", "beta8-seed1", "beta8-seed2"]
    assert sweep_names(["a/x.pt", "b/x.pt", "b/y.pt"]) == ["a-x", "b-x", "b-y"]
    assert sweep_names(["only/model.pt"]) == ["model"]


def test_path_hyperparameters_from_folder_names_and_a_pattern():
    assert path_hyperparameters("runs/beta4/seed1/model.pt", tail="beta4/seed1/model") == {"beta": 4, "seed": 1}
    assert path_hyperparameters("x/lam0.5-prior/m.pt", tail="lam0.5-prior/m") == {}
    pattern = r"lam(?P<lam>[\d.]+)-(?P<entropy>\w+)/"
    assert path_hyperparameters("x/lam0.5-prior/m.pt", pattern) == {"lam": 0.5, "entropy": "prior"}
    with pytest.raises(UsageError, match="names no group"):
        path_hyperparameters("x", "lam")


def test_recorded_hyperparameters_of_each_checkpoint_kind():
    ours = {"training": {"lam": 2.0, "seed": 3, "preset": "mnist-joint", "history": [], "config": {"beta_z": 4.0}}}
    assert recorded_hyperparameters(ours) == {"lam": 2.0, "seed": 3, "preset": "mnist-joint", "beta_z": 4.0}
    pythae = {"training": {"objective": "pythae ...", "epochs": 5}, "settings": {"name": "BetaVAEConfig", "beta": 4}}
    want = {"model_class": "BetaVAE", "beta": 4, "epochs": 5, "objective": "pythae ..."}
    assert recorded_hyperparameters(pythae) == want
    jointvae = {"training": {"epochs": 100}, "settings": {"cont_capacity": [0.0, 5.0, 25000, 30.0], "lr": 5e-4}}
    got = recorded_hyperparameters(jointvae)
    assert got["cont_capacity"] == "[0.0, 5.0, 25000, 30.0]" and got["lr"] == 5e-4 and got["epochs"] == 100


def test_key_follows_content_and_numbers_not_speed(tmp_path: Path):
    settings = CHEAP.to_dict()
    base = job_key("abc", DATA, settings, {})
    assert job_key("abd", DATA, settings, {}) != base
    assert job_key("abc", DATA | {"limit": 65}, settings, {}) != base
    more = dataclasses.replace(CHEAP, mi=dataclasses.replace(CHEAP.mi, samples=161)).to_dict()
    assert job_key("abc", DATA, more, {}) != base
    faster = dataclasses.replace(CHEAP, mi=dataclasses.replace(CHEAP.mi, chunk=7)).to_dict()
    assert job_key("abc", DATA, faster, {}) == base


def test_expand_checkpoints_globs_lists_and_errors(tmp_path: Path):
    paths = make_grid(tmp_path, lams=(1, 2), seeds=(0,))
    listing = tmp_path / "list.txt"
    listing.write_text(f"# two models\n{paths[1]}\n")
    assert expand_checkpoints([str(tmp_path / "**/model.pt")]) == [str(p) for p in paths]
    assert expand_checkpoints([], str(listing)) == [str(paths[1])]
    with pytest.raises(UsageError, match="matches no file"):
        expand_checkpoints([str(tmp_path / "*.nothing")])
    with pytest.raises(UsageError, match="no such file"):
        expand_checkpoints([str(tmp_path / "gone.pt")])


def _plan(tmp_path: Path, paths: list[Path], config=CHEAP):
    return plan_jobs([str(p) for p in paths], DATA, config, tmp_path / "sweep", {"threads": 1})


def test_a_failing_model_is_recorded_and_the_sweep_goes_on(tmp_path: Path):
    paths = make_grid(tmp_path / "runs", lams=(1, 2), seeds=(0,))
    paths[0].write_bytes(b"not a checkpoint")
    jobs = _plan(tmp_path, paths, dataclasses.replace(CHEAP, mi=None))
    result = run_sweep(jobs, tmp_path / "sweep", InlineExecutor())
    rows = {r["model"]: r for r in result.table.rows}
    broken = rows["lam1-seed0"]
    assert broken["status"] == "failed" and broken["error"] and "\n" not in broken["error"]
    assert rows["lam2-seed0"]["status"] == "done" and rows["lam2-seed0"]["lam"] == 2
    assert cache.failure(tmp_path / "sweep", jobs[0].key) == broken["error"]
    assert not list((tmp_path / "sweep" / "cache").glob(".tmp-*"))


def test_interrupted_sweep_keeps_finished_models_and_the_rerun_computes_only_the_rest(tmp_path: Path):
    paths = make_grid(tmp_path / "runs", lams=(1, 2, 3), seeds=(0, 1))
    jobs = _plan(tmp_path, paths, dataclasses.replace(CHEAP, mi=None))
    folder = tmp_path / "sweep"

    def stop_after_two(state):
        if state.done == 2:
            raise KeyboardInterrupt

    first = InlineExecutor()
    with pytest.raises(SweepInterrupted) as stop:
        run_sweep(jobs, folder, first, stop_after_two)
    kept = read_table(folder / "sweep.h5")
    assert [r["status"] for r in kept.rows].count("done") == 2 == len(first.evaluated)
    assert stop.value.result.interrupted
    finished = {j.key: (cache.entry(folder, j.key) / "report.h5").stat().st_mtime_ns for j in jobs[:2]}
    rerun = InlineExecutor()
    result = run_sweep(jobs, folder, rerun)
    assert rerun.evaluated == [j.name for j in jobs[2:]]  # 4 evaluations, not 6
    assert all((cache.entry(folder, k) / "report.h5").stat().st_mtime_ns == t for k, t in finished.items())
    assert [r["status"] for r in result.table.rows] == ["done"] * 6
    again = InlineExecutor()
    run_sweep(_plan(tmp_path, paths, dataclasses.replace(CHEAP, mi=None, seed=1)), folder, again)
    assert len(again.evaluated) == 6  # an option that changes the numbers recomputes what it affects


def test_merge_reads_the_reports_every_estimate_with_its_stderr(tmp_path: Path):
    paths = make_grid(tmp_path / "runs", lams=(1, 5), seeds=(0,))
    jobs = _plan(tmp_path, paths)
    result = run_sweep(jobs, tmp_path / "sweep", InlineExecutor())
    table = result.table
    assert table.hyper[:2] == ["seed", "lam"] or {"seed", "lam"} <= set(table.hyper)
    entry = cache.entry(tmp_path / "sweep", jobs[1].key) / "report.h5"
    with h5py.File(entry) as f:
        mi = f[f"{jobs[1].name}/mi"]
        keys = [k.decode() for k in mi["key"][()]]
        value, stderr = mi["value"][()], mi["stderr"][()]
        elbo = f[f"{jobs[1].name}/elbo/elbo"][()]
    row = table.rows[1]
    for k, v, s in zip(keys, value, stderr, strict=True):
        column = "mi:" + k.replace("/", "|")
        assert row[column] == pytest.approx(v, nan_ok=True) and (row[column + ":stderr"] == s or math.isnan(s))
    assert row["elbo"] == elbo and not math.isnan(row["elbo:stderr"])
    assert read_table(result.h5).rows[1]["elbo"] == elbo
    header = result.csv.read_text().splitlines()[0].split(",")
    assert "lam" in header and "elbo:stderr" in header
    merged = merge_paths([tmp_path / "sweep", entry])  # a sweep folder and a loose report.h5
    assert [r["model"] for r in merged.rows] == [j.name for j in jobs] + [f"{jobs[1].name}-2"]


def test_cache_entry_appears_whole_or_not_at_all(tmp_path: Path):
    folder = tmp_path / "sweep"
    tmp = cache.temp_entry(folder, "k1")
    (tmp / "report.h5").write_bytes(b"x")
    assert not cache.is_done(folder, "k1")
    cache.commit_entry(tmp, folder, "k1")
    assert cache.is_done(folder, "k1") and not tmp.exists()
    stale = folder / "cache" / ".tmp-k2-999999999"
    stale.mkdir()
    assert cache.clean_stale(folder) == [stale] and not stale.exists()

"""How long does the default `vmieval report` take on a 64x64 model over 10,000 images, one torch thread?

Issue 21's target: at most 3 CPU-minutes (180 CPU-s) each for two models,
- `fixture`: the committed grey sprites model `fixtures/models/sprites-gauss10-mi.pt`;
- `rgb`: the 3-channel Burgess model of the `sprites-rgb-gauss10` preset (published widths), trained into
  `--cache` on first use with the preset's settings (seed 0, 20 epochs of the 6,000 generated training
  sprites; its checkpoint is too large to commit).
The images are `make_sprites(10_000, seed=5)`, grey or RGB, saved once as `.npz` in `--cache` (factors
included, so the report scores them as a user's file would be scored).

Each report is a whole process (start-up counts, as a user sees it): `vmieval report MODEL --data FILE
--out TMP --threads 1` with `OMP_NUM_THREADS=MKL_NUM_THREADS=1`. Its CPU seconds (user + system) and peak
RSS come from `wait4` on the finished child; the Q plan line, each fold's Q epochs and the wall seconds the
Q fits spanned are read from its progress lines (stderr). The baseline, the same command from `--base`
(6089ebd's build), runs in the same session on the first `--base-limit` images with a wall-clock limit
(`--base-timeout`): it did not finish on 500-1,000 images in 11-15 minutes when issue 21 was filed, so a
stopped run is reported as "did not finish in N s" with the CPU it had used.

    nice -n 5 .venv/bin/python benchmarks/bench_64px_report.py [--base /work/base/.venv/bin/vmieval] \\
        [--cache /tmp/vmieval-bench-64px] [--models fixture,rgb] [--base-limit 500] [--base-timeout 480]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from bench_mi_bound import cpu_model  # a sibling script: benchmarks/ is on sys.path when run
from vmieval.trainers import resolve_config

import vmieval
from vmieval.estimators.config import PLAN_PREFIX
from vmieval.outputs import atomic_write
from vmieval.synthetic import SpriteConfig, make_sprites, save_npz

ROOT = Path(__file__).resolve().parents[1]
NEW = ROOT / ".venv" / "bin" / "vmieval"
FIXTURE = ROOT / "fixtures" / "models" / "sprites-gauss10-mi.pt"
RGB_PRESET = "sprites-rgb-gauss10"
RESULTS = ROOT / "benchmarks" / "results" / "report_64px.json"
N_IMAGES, DATA_SEED = 10_000, 5
TARGET_CPU_S = 180.0
ENV = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_child(cmd: list[str], logs: Path, timeout: float | None = None) -> dict:
    """Run `cmd` to its end or until `timeout` wall seconds (then kill it): CPU, peak RSS, wall, stderr."""
    logs.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(logs / "stdout", "wb") as out, open(logs / "stderr", "wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=ENV)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if timeout is not None and time.perf_counter() - start > timeout:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.5)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen, so it does not wait again
    stderr = (logs / "stderr").read_text(errors="replace")
    plan = [line[line.index(PLAN_PREFIX) :] for line in stderr.splitlines() if PLAN_PREFIX in line]
    return {
        "finished": proc.returncode == 0,
        "killed_after_s": None if proc.returncode >= 0 else round(time.perf_counter() - start, 1),
        "returncode": proc.returncode,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "wall_s": time.perf_counter() - start,
        "q_plan": plan[0] if plan else None,
        "stderr_tail": stderr.strip().splitlines()[-1:] if proc.returncode > 0 else [],
    }


def ensure_data(cache: Path, rgb: bool) -> Path:
    """The 10,000 sprites as an `.npz` in `cache` (made once: deterministic in the seed)."""
    path = cache / f"sprites{'-rgb' if rgb else ''}-{N_IMAGES}-seed{DATA_SEED}.npz"
    if not path.exists():
        save_npz(path, make_sprites(N_IMAGES, DATA_SEED, SpriteConfig(rgb=rgb)))
    return path


def ensure_rgb_model(cache: Path, exe: str) -> tuple[Path, dict | None]:
    """The `sprites-rgb-gauss10` checkpoint in `cache`, trained (one thread) if missing or made with other settings
    than the preset's, with its training cost (None when the cached one was used)."""
    path = cache / f"{RGB_PRESET}-mi.pt"
    if (
        path.exists()
        and vmieval.load(path).training_record.get("config") == resolve_config(RGB_PRESET, device="cpu").to_dict()
    ):
        return path, None
    cmd = [exe, "train-reference", "--preset", RGB_PRESET, "--out", str(cache), "--threads", "1", "--device", "cpu"]
    cmd += ["--force"]  # a checkpoint of other settings (an older preset) is replaced
    run = run_child(cmd, cache / "train-logs")
    if not run["finished"]:
        raise SystemExit(f"training {RGB_PRESET} failed: {run['stderr_tail']}")
    print(f"trained {path}: {run['cpu_s']:.0f} CPU-s, wall {run['wall_s']:.0f} s", flush=True)
    return path, run


FIT_LINE = re.compile(r"^\[(\d+):(\d\d)\] .*Q fit, fold (\d+)/\d+ (\d+)/(\d+)")


def q_fits(stderr: str) -> dict | None:
    """Epochs of each fold's Q and the wall seconds from the first fit line to the last, read from the
    report's plain progress lines (`[m:ss] NAME: MI, Q fit, fold 2/5 28/28`: a fold's last line says
    how many epochs it ran); None when no fit line was printed."""
    times, epochs = [], {}
    for match in map(FIT_LINE.match, stderr.splitlines()):
        if match:
            minutes, secs, fold, done, total = map(int, match.groups())
            times.append(60 * minutes + secs)
            if done == total:
                epochs[fold] = done
    return {"epochs": [epochs[f] for f in sorted(epochs)], "wall_s": times[-1] - times[0]} if times else None


def report(exe: str, model: Path, data: Path, tmp: Path, limit: int | None, timeout: float | None) -> dict:
    """The default report as a whole process, its figures and the Q fits' share."""
    out = tmp / "report"
    cmd = [exe, "report", str(model), "--data", str(data), "--out", str(out), "--threads", "1"]
    cmd += ["--limit", str(limit)] if limit else []
    run = run_child(cmd, tmp / "logs", timeout) | {"images": limit or N_IMAGES, "command": " ".join(cmd)}
    run["q_fits"] = q_fits((tmp / "logs" / "stderr").read_text(errors="replace"))
    return run


def line(side: str, r: dict) -> str:
    """One printed line per run: its figures, or how far it got."""
    cpu = f"{r['cpu_s']:.1f} CPU-s (user {r['user_s']:.1f}, sys {r['sys_s']:.1f})"
    if r["killed_after_s"] is not None:
        return f"  {side}, {r['images']:,} images: did not finish in {r['killed_after_s']:.0f} s ({cpu} until stopped)"
    if not r["finished"]:
        return f"  {side}, {r['images']:,} images: failed (exit {r['returncode']}): {' '.join(r['stderr_tail'])}"
    text = f"  {side}, {r['images']:,} images: {cpu}, peak RSS {r['peak_rss_mib']:.0f} MiB, wall {r['wall_s']:.0f} s"
    if r["q_fits"]:
        fits = r["q_fits"]
        text += f"; Q fits ≈ {fits['wall_s']} s of the wall, epochs per fold {'/'.join(map(str, fits['epochs']))}"
    return text


def machine() -> dict:
    load = os.getloadavg()
    return {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": 1,
        "load_average": [round(v, 1) for v in load],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def bench_model(name: str, a: argparse.Namespace) -> dict:
    """Both builds' report on one model (`fixture` or `rgb`), printed as it finishes."""
    model, training = ensure_rgb_model(a.cache, a.new) if name == "rgb" else (FIXTURE, None)
    data = ensure_data(a.cache, rgb=name == "rgb")
    entry: dict = {"model": str(model), "model_bytes": model.stat().st_size, "data": str(data), "training": training}
    with tempfile.TemporaryDirectory() as tmp:
        entry["new"] = report(a.new, model, data, Path(tmp) / "new", None, None)
        if a.base:
            entry["base"] = report(a.base, model, data, Path(tmp) / "base", a.base_limit, a.base_timeout)
    entry["target_met"] = entry["new"]["finished"] and entry["new"]["cpu_s"] <= TARGET_CPU_S
    verdict = "met" if entry["target_met"] else "NOT met"
    print(f"{name}: {model.name} ({model.stat().st_size / 1024:.0f} KB), target {verdict}")
    print(line("this build", entry["new"]))
    print(f"    {entry['new']['q_plan'] or 'no Q plan line printed'}")
    if "base" in entry:
        print(line("base", entry["base"]))
    sys.stdout.flush()
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--new", default=str(NEW), help="the vmieval executable under test")
    parser.add_argument("--base", default="/work/base/.venv/bin/vmieval", help="the baseline's vmieval ('' for none)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "vmieval-bench-64px")
    parser.add_argument("--models", default="fixture,rgb")
    parser.add_argument("--base-limit", type=int, default=500)
    parser.add_argument("--base-timeout", type=float, default=480.0, help="wall seconds before a base run is stopped")
    parser.add_argument("--out", type=Path, default=RESULTS)
    a = parser.parse_args()
    a.cache.mkdir(parents=True, exist_ok=True)
    m = machine()
    print(f"machine: {m['cpu']}, {m['logical_cores']} logical cores, {m['platform']}, torch {m['torch']}, one thread; "
          f"load average {' / '.join(map(str, m['load_average']))}")  # fmt: skip
    print(f"target: at most {TARGET_CPU_S:.0f} CPU-s per model on {N_IMAGES:,} images", flush=True)
    models = {name: bench_model(name, a) for name in a.models.split(",")}
    doc = {"machine": m, "new": a.new, "base": a.base, "target_cpu_s": TARGET_CPU_S, "models": models}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(a.out, lambda p: p.write_text(json.dumps(doc, indent=1) + "\n"))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()

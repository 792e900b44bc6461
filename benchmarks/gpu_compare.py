"""The figures of benchmarks/gpu_session.sh: CPU against CUDA reports, and the paper models trained.

    python benchmarks/gpu_compare.py OUT NAME...                    # OUT/NAME-{cpu,cuda}.json -> OUT/compare.json
    python benchmarks/gpu_compare.py --paper OUT SECONDS PARALLEL   # OUT/paper-runs/**.pt -> OUT/paper.json

A CPU and a CUDA report agree when every ELBO/recon value, every MI row and the Monte-Carlo MIG lie
within 4·hypot(stderr_cpu, stderr_cuda) + 1e-4 (the rule of tests/test_device.py) and every KL within
1e-4 relative; a pair whose files are absent or empty (skipped, timed out) is recorded as such.
The paper half reads each checkpoint's training record (iterations done, seconds) with vmieval's own
loader (never unpickling), so the iterations per second on the shared GPU are what the models did.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path


def close(a: float | None, b: float | None, se_a: float | None, se_b: float | None) -> bool | None:
    if a is None or b is None:
        return None
    return abs(a - b) <= 4 * math.hypot(se_a or 0.0, se_b or 0.0) + 1e-4


def model_doc(path: Path) -> dict | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc[doc["attrs"]["models"][0]]


def compare(cpu: dict, gpu: dict) -> dict:
    """Every compared number: {quantity: [cpu, cuda, agree]}."""
    out: dict[str, list] = {}
    for key in ("elbo", "recon"):
        a, b = cpu["elbo"][key], gpu["elbo"][key]
        out[f"elbo.{key}"] = [a, b, close(a, b, cpu["elbo"][f"{key}_stderr"], gpu["elbo"][f"{key}_stderr"])]
    for i, (a, b) in enumerate(zip(cpu["kl"]["value"], gpu["kl"]["value"], strict=True)):
        out[f"kl[{i}]"] = [a, b, abs(a - b) <= 1e-4 * max(1.0, abs(a))]
    rows = dict(zip(cpu["mi"].get("key", []), zip(cpu["mi"]["value"], cpu["mi"]["stderr"], strict=True), strict=True))
    for key, value, se in zip(gpu["mi"].get("key", []), gpu["mi"]["value"], gpu["mi"]["stderr"], strict=True):
        if key in rows:
            out[f"mi.{key}"] = [rows[key][0], value, close(rows[key][0], value, rows[key][1], se)]
    if cpu.get("factors", {}).get("mig"):
        a, b = cpu["factors"]["mig"], gpu["factors"]["mig"]
        out["factors.mig"] = [a["value"], b["value"], close(a["value"], b["value"], a["stderr"], b["stderr"])]
    return out


def reports(out: Path, names: list[str]) -> None:
    result = {}
    for name in names:
        cpu, gpu = model_doc(out / f"{name}-cpu.json"), model_doc(out / f"{name}-cuda.json")
        if cpu is None or gpu is None:
            result[name] = {"status": "skipped or unfinished (see logs/)"}
            continue
        numbers = compare(cpu, gpu)
        agree = all(v[2] is not False for v in numbers.values())
        result[name] = {"status": "agree" if agree else "DIFFER", "numbers": numbers}
        print(f"{name}: CPU and CUDA {'agree within stderr' if agree else 'DIFFER'} on {len(numbers)} numbers")
    (out / "compare.json").write_text(json.dumps(result, indent=2) + "\n")


def paper(out: Path, seconds: float, parallel: int) -> None:
    import vmieval

    models = []
    for path in sorted((out / "paper-runs").rglob("*.pt")):
        record = vmieval.load(str(path), device="cpu").training_record
        done = int(record.get("iterations_done", 0))
        models.append({"checkpoint": str(path.relative_to(out)), "iterations_done": done})
    total = sum(m["iterations_done"] for m in models)
    result = {"parallel": parallel, "seconds": seconds, "models": models,
              "iterations_per_second_all_models": total / seconds if seconds else None}  # fmt: skip
    (out / "paper.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"{len(models)} paper models, {total} iterations in {seconds:.0f} s ({total / seconds:.1f} it/s together)")


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "--paper":
        paper(Path(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
    elif len(sys.argv) >= 3:
        reports(Path(sys.argv[1]), sys.argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

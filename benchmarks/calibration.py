"""Calibration suite: do vmieval's 95% intervals cover, and how far is each estimator from the truth?

Every estimator runs many times (one seed each) on synthetic cases with a known answer (see
`calibration_cases.py`). Per estimator and case it reports:
- bias: mean value over the seeds minus the true MI (a lower bound should sit at or below 0);
- coverage: the share of seeds whose interval value ± 1.96·stderr contains the estimator's own
  estimand. For the encoder side that is the population I_q (closed form). For a decoder-side bound
  it is the mean held-out bound of its fitting procedure, estimated by the mean over the OTHER seeds
  (leave one out, so a run never helps cover itself; this costs a little coverage, never adds any);
- spread: the SD of the values over seeds beside the mean reported stderr (a ratio near 1 is an
  honest stderr; the interval itself may be wider, by a t quantile).
The single-split Q bound (`q_bound`, per-pair stderr) runs beside the cross-fitted one, to show what
the cross-fit fixes.

    nice -n 10 .venv/bin/python benchmarks/calibration.py            # -> results/calibration.{json,md}
    .venv/bin/python benchmarks/calibration.py --quick --out /tmp/cal  # smoke run, well under a minute
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibration_cases import DecoderCase, EncoderCase, decoder_cases, encoder_cases  # noqa: E402

from vmieval.data import ImageData  # noqa: E402
from vmieval.encoded import encode_split  # noqa: E402
from vmieval.estimators import Estimate, MIConfig, encoder_mi, q_bound  # noqa: E402
from vmieval.estimators.decoder.crossfit import crossfit_q_bound  # noqa: E402
from vmieval.estimators.decoder.intervals import Z95  # noqa: E402
from vmieval.outputs import atomic_write  # noqa: E402
from vmieval.spec import parse_target  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_COVERAGE = 0.93
# A narrower Q than the default (32 hidden units, batches of 256) for speed, but the default's epoch cap: with a
# cap of 30 the near-noiseless cases stopped Q while it was still improving, where its fitting noise is first
# order and shared by the fold Qs (they share 3/4 of their fit pairs), which the default avoids and flags.
Q_SETTINGS = {"q_hidden": 32, "max_epochs": 100, "patience": 3, "batch_size": 256}


def covered(value: float, stderr: float, estimand: float, z: float = Z95) -> bool:
    """Whether value ± z·stderr contains `estimand` (a NaN stderr covers nothing)."""
    return math.isfinite(stderr) and abs(value - estimand) <= z * stderr


def coverage(values: Sequence[float], stderrs: Sequence[float], estimand: float | None = None) -> float:
    """Share of runs whose 95% interval contains `estimand`, or, when it is None, the mean of the
    other runs' values (leave one out: the estimand of a procedure known only through reruns)."""
    n = len(values)
    if n < 2:
        return math.nan
    total = sum(values)
    own = [estimand if estimand is not None else (total - v) / (n - 1) for v in values]
    hits = [covered(v, s, e) for v, s, e in zip(values, stderrs, own, strict=True)]
    return sum(hits) / n


def summarise(values: list[float], stderrs: list[float], truth: float, own_estimand: float | None) -> dict[str, Any]:
    """Bias against `truth`; coverage of `own_estimand` (None: the mean of the other runs) and of the truth."""
    sd = statistics.stdev(values) if len(values) > 1 else math.nan
    mean_se = statistics.fmean(stderrs)
    return {
        "runs": len(values),
        "truth": truth,
        "mean": statistics.fmean(values),
        "bias": statistics.fmean(values) - truth,
        "sd": sd,
        "mean_stderr": mean_se,
        "stderr_over_sd": mean_se / sd if sd > 0 else math.nan,
        "coverage": coverage(values, stderrs, own_estimand),
        "coverage_of_truth": coverage(values, stderrs, truth),
        "estimand": "population value" if own_estimand is not None else "mean of the other runs",
    }


def family(e: Estimate) -> str:
    """A stable name for a decoder-side row's estimator, e.g. 'barber-agakov (cross-fit)'."""
    name = e.family + (" (paper H)" if e.entropy == "paper" else "")
    return name + (" (cross-fit)" if "folds" in e.params else "")


ENCODER_FAMILIES = {
    "exact": "exact I_q (delta-method stderr)",
    "kl": "KL upper bound E_x KL(q || p)",
    "plug-in": "plug-in label MI I_q(y; c)",
    "monte-carlo": "Monte Carlo I_q (full-dataset mixture)",
}


def run_decoder(case: DecoderCase, seeds: int) -> dict[str, dict[str, list[float]]]:
    model, target = case.model, parse_target(case.target, case.model.spec)
    config = MIConfig(target=case.target, codes=case.codes, samples=case.samples, **Q_SETTINGS)  # type: ignore[arg-type]
    split = None if case.images is None else encode_split(model, ImageData(case.images, None, "cal", "test", ""))
    runs: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"value": [], "stderr": []})
    for seed in range(seeds):
        crossfit = crossfit_q_bound(model, target, config, torch.Generator().manual_seed(seed), split)
        single = q_bound(model, target, config, torch.Generator().manual_seed(10_000 + seed), split)
        for result in (crossfit, single):
            for e in result.estimates():
                if e.valid:
                    runs[family(e)]["value"].append(e.value)
                    runs[family(e)]["stderr"].append(e.stderr)
    return runs


def run_encoder(case: EncoderCase, seeds: int) -> dict[str, dict[str, Any]]:
    target = parse_target(case.target, case.model.spec)
    runs: dict[str, dict[str, Any]] = defaultdict(lambda: {"value": [], "stderr": []})
    for seed in range(seeds):
        g = torch.Generator().manual_seed(seed)
        images, labels = case.draw(case.n, g)
        split = encode_split(case.model, ImageData(images, labels, "cal", "test", ""))
        for e in encoder_mi(split, target, g).estimates():
            key = (e.estimand, e.kind)
            if key in case.truth:
                group = ENCODER_FAMILIES[e.family]
                name = f"{e.estimand}: {group}"
                runs[name]["truth"], runs[name]["group"] = case.truth[key], group
                runs[name]["value"].append(e.value)
                runs[name]["stderr"].append(e.stderr)
    return runs


def case_rows(case: DecoderCase | EncoderCase, decoder_seeds: int, encoder_seeds: int) -> list[dict[str, Any]]:
    """Every estimator's summary on one case."""
    rows: list[dict[str, Any]] = []
    if isinstance(case, DecoderCase):
        for name, r in run_decoder(case, decoder_seeds).items():
            rows.append({"side": "decoder", "case": case.name, "estimator": name,
                         **summarise(r["value"], r["stderr"], case.truth, None)})  # fmt: skip
        return rows
    for name, r in run_encoder(case, encoder_seeds).items():
        # The Monte-Carlo value is exact in expectation for the N-image mixture, which sits below the
        # population I_q as I_q nears log N: its own estimand is the procedure's mean at this N.
        own = None if r["group"].startswith("Monte Carlo") else r["truth"]
        rows.append({"side": "encoder", "case": case.name, "estimator": name, "group": r["group"],
                     **summarise(r["value"], r["stderr"], r["truth"], own)})  # fmt: skip
    return rows


def run_suite(quick: bool, decoder_seeds: int, encoder_seeds: int, cache: Path, only: str | None) -> dict[str, Any]:
    """Run (or read back from `cache`, one JSON line per finished case) every case whose name
    contains `only`; a case's line records its wall and CPU seconds."""
    done: dict[str, dict[str, Any]] = {}
    if cache.exists():
        for line in cache.read_text().splitlines():
            entry = json.loads(line)
            if (entry["decoder_seeds"], entry["encoder_seeds"]) == (decoder_seeds, encoder_seeds):
                done[entry["case"]] = entry
    entries: list[dict[str, Any]] = []
    for case in [*decoder_cases(quick), *encoder_cases(quick)]:
        if only is not None and not any(part in case.name for part in only.split("|")):
            continue
        if case.name not in done:
            wall, cpu = time.perf_counter(), time.process_time()
            rows = case_rows(case, decoder_seeds, encoder_seeds)
            entry = {"case": case.name, "decoder_seeds": decoder_seeds, "encoder_seeds": encoder_seeds, "rows": rows,
                     "wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}  # fmt: skip
            with cache.open("a") as fh:  # one line per case: parallel runs on disjoint cases may share it
                fh.write(json.dumps(entry) + "\n")
            done[case.name] = entry
            print(f"{case.name}: {entry['wall_s']:.0f} s wall, {entry['cpu_s']:.0f} s CPU", file=sys.stderr, flush=True)
        entries.append(done[case.name])
    rows = [r for e in entries for r in e["rows"]]
    seconds = {"wall": sum(e["wall_s"] for e in entries), "cpu": sum(e["cpu_s"] for e in entries)}
    return {"rows": rows, "summary": summary(rows), "seconds": seconds}


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per estimator (encoder rows grouped by kind and family): runs, pooled and worst coverage."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r.get("group", r["estimator"])].append(r)
    out = []
    for key, rs in groups.items():
        runs = sum(r["runs"] for r in rs)
        pooled = sum(r["coverage"] * r["runs"] for r in rs) / runs
        worst = min(rs, key=lambda r: r["coverage"])
        out.append({"estimator": key, "side": rs[0]["side"], "cases": len(rs), "runs": runs, "coverage": pooled,
                    "worst_coverage": worst["coverage"], "worst_case": worst["case"],
                    "meets_target": pooled >= TARGET_COVERAGE})  # fmt: skip
    return out


def bias_matrix(rows: list[dict[str, Any]]) -> list[str]:
    """Decoder cases down, estimators across: the mean value minus the truth."""
    decoder = [r for r in rows if r["side"] == "decoder"]
    names = list(dict.fromkeys(r["estimator"] for r in decoder))
    cases = list(dict.fromkeys(r["case"] for r in decoder))
    bias = {(r["case"], r["estimator"]): r["bias"] for r in decoder}
    truth = {r["case"]: r["truth"] for r in decoder}
    out = ["| case | true MI | " + " | ".join(names) + " |", "| --- | --- |" + " --- |" * len(names)]
    for case in cases:
        cells = [f"{bias[(case, n)]:+.3f}" if (case, n) in bias else "–" for n in names]
        out.append(f"| {case} | {truth[case]:.3f} | " + " | ".join(cells) + " |")
    return out


def markdown(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    lines = [
        "# Calibration: coverage of 95% intervals and bias against known answers",
        "",
        f"Generated by `benchmarks/calibration.py{' --quick' if doc['quick'] else ''}`: "
        f"{doc['seconds']['cpu'] / 60:.1f} min of CPU time ({doc['seconds']['wall'] / 60:.1f} min wall on a shared "
        f"machine; {m['processor']}, torch {m['torch']}, {m['threads']} thread); "
        f"decoder cases {doc['decoder_seeds']} seeds each, encoder cases {doc['encoder_seeds']}. "
        f"Coverage target ≥ {TARGET_COVERAGE:.0%}.",
        "",
        "## Coverage per estimator (pooled over cases)",
        "",
        "| side | estimator | cases | runs | coverage | worst case (coverage) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for s in doc["summary"]:
        flag = "" if s["meets_target"] else " **below target**"
        lines.append(f"| {s['side']} | {s['estimator']} | {s['cases']} | {s['runs']} | {s['coverage']:.3f}{flag} | "
                     f"{s['worst_case']} ({s['worst_coverage']:.2f}) |")  # fmt: skip
    lines += ["", "## Decoder-side bias: mean value − true I(t; x_hat), nats (a valid lower bound sits at or below 0)",
              "", *bias_matrix(doc["rows"]), "", "## Bias and spread per case", "",
              "| side | case | estimator | truth | mean − truth | SD over runs | mean stderr / SD | coverage | "
              "coverage of truth |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for r in doc["rows"]:
        numbers = f"{r['truth']:.4f} | {r['bias']:+.4f} | {r['sd']:.4f} | {r['stderr_over_sd']:.2f}"
        covers = f"{r['coverage']:.2f} | {r['coverage_of_truth']:.2f}"
        lines.append(f"| {r['side']} | {r['case']} | {r['estimator']} | {numbers} | {covers} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="two decoder and two encoder cases, few seeds")
    parser.add_argument("--decoder-seeds", type=int, default=None)
    parser.add_argument("--encoder-seeds", type=int, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--cases", default=None, help="run only the cases whose name contains one of these texts (separated by |)"
    )
    parser.add_argument("--cache", type=Path, default=None, help="finished cases, one JSON line each (resume)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dec = args.decoder_seeds or (4 if args.quick else 300)
    enc = args.encoder_seeds or (20 if args.quick else 200)
    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.cache or args.out / f"calibration{'-quick' if args.quick else ''}.cases.jsonl"
    doc = {"quick": args.quick, "decoder_seeds": dec, "encoder_seeds": enc,
           **run_suite(args.quick, dec, enc, cache, args.cases)}  # fmt: skip
    doc["machine"] = {"processor": platform.processor() or platform.machine(), "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "python": platform.python_version()}  # fmt: skip
    if args.cases is not None:
        return  # a partial run only fills the cache; a run without --cases writes the tables
    atomic_write(args.out / "calibration.json", lambda p: p.write_text(json.dumps(doc, indent=1)))
    atomic_write(args.out / "calibration.md", lambda p: p.write_text(markdown(doc)))
    print(markdown(doc))


if __name__ == "__main__":
    main()

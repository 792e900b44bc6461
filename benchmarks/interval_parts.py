"""Where the cross-fitted Barber-Agakov and Fano rows' spread comes from: the figures behind docs/trust.md.

Two measurements, each printed with the machine:
- `parts CASE`: a calibration case's cross-fitted rows over seeds FIRST..FIRST+N−1 (calibration.py's Q settings).
  Per row: the SD of the values over the seeds beside the square roots of the mean variance parts each run
  reports (pairs: drawing the pairs given the images; Q fit: the fold Qs' spread on the fresh pairs, /F), and the
  variance neither explains. Per seed it also fits a twin of fold 1's Q (the same fit and validation pairs,
  another initialisation) and scores it on the same fresh pairs: half the mean squared twin difference is the
  initialisation's share of one Q's fitting noise, set beside the fold Qs' whole spread. If the fold Qs' spread
  understated the fit's noise because they share 3/4 of their fit pairs, the unexplained variance would be of
  the order of (F − 1)² times the reported Q-fit part; this measures whether it is. Last, how far the folds of
  one seed stop at similar epochs (early stopping on overlapping data), and how the value moves with that; and
  the share of runs whose row is flagged `few_terms`.
- `flip-rates`: for every symmetric-channel case with prior codes, the flip rate of its S pairs per seed, its SD
  over seed ranges against the binomial SD (how far a range of seeds spreads by luck), and the exact coverage of
  the Wald interval for Binomial(S, ε) (what a value ± 1.96·SD interval can reach when the spread is set by a
  count with few events).

    .venv/bin/python benchmarks/interval_parts.py parts "K=10 eps=0.002 S=4000" --seeds 60
    .venv/bin/python benchmarks/interval_parts.py flip-rates
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import binom

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibration import coverage  # noqa: E402
from calibration_cases import decoder_cases  # noqa: E402
from contrastive_variance import setting  # noqa: E402

from vmieval.estimators.decoder import crossfit as cf  # noqa: E402
from vmieval.estimators.decoder.fit import evaluate_q, fit_q  # noqa: E402
from vmieval.estimators.decoder.intervals import FEW_TERMS  # noqa: E402
from vmieval.estimators.decoder.pairs import generate_pairs  # noqa: E402
from vmieval.spec import parse_target  # noqa: E402

ROWS = ("barber-agakov", "fano")


class Recorder:
    """Wraps crossfit's `fit_folds` and `score_fresh` to keep what a twin Q needs: the pairs, their folds,
    the Q parts and policy, the fold fits and the fresh pairs of the latest run."""

    def __init__(self) -> None:
        self.seen: dict[str, Any] = {}
        self._fit, self._fresh = cf.fit_folds, cf.score_fresh
        cf.fit_folds, cf.score_fresh = self.fit_folds, self.score_fresh  # type: ignore[assignment]

    def fit_folds(self, pairs, fold_of, folds, parts, config, generator, progress=None, policy=None):  # noqa: ANN001, ANN201
        fits = self._fit(pairs, fold_of, folds, parts, config, generator, progress, policy)
        self.seen.update(pairs=pairs, fold_of=fold_of, parts=parts, config=config, policy=policy, fits=fits)
        return fits

    def score_fresh(self, fits, fresh, parts, batch):  # noqa: ANN001, ANN201
        self.seen["fresh"] = fresh
        return self._fresh(fits, fresh, parts, batch)

    def twin_difference(self, seed: int) -> tuple[float, float]:
        """(twin − fold 1's Q, the fold Qs' sample variance), both of the mean log Q on the fresh pairs."""
        s = self.seen
        val_share = s["config"].fractions[1] / (s["config"].fractions[0] + s["config"].fractions[1])
        _, fit_idx, val_idx = cf.fold_plan(s["fold_of"], 0, val_share)
        twin, _ = fit_q(s["pairs"].select(fit_idx), s["pairs"].select(val_idx), s["parts"], s["config"],
                        torch.Generator().manual_seed(90_000 + seed), None, s["policy"])  # fmt: skip
        scores = [float(evaluate_q(q, s["fresh"])[0].mean()) for q in (twin, *(f.q for f in s["fits"]))]
        return scores[0] - scores[1], float(np.var(scores[1:], ddof=1))


def parts(case: str, first: int, seeds: int) -> None:
    model, target, config, split = setting(case)
    recorder = Recorder()
    runs: dict[str, dict[str, list[float]]] = {
        r: {k: [] for k in ("value", "stderr", "pairs", "q_fit", "few")} for r in ROWS
    }
    twin: list[tuple[float, float]] = []
    epochs: list[list[int]] = []
    for seed in range(first, first + seeds):
        result = cf.crossfit_q_bound(model, target, config, torch.Generator().manual_seed(seed), split)
        for e in result.estimates():
            if e.family in runs and e.valid:
                interval = result.intervals[e.key]
                for key, x in (("value", e.value), ("stderr", e.stderr), ("pairs", interval.pairs),
                               ("q_fit", interval.q_fit), ("few", float(FEW_TERMS in e.flags))):  # fmt: skip
                    runs[e.family][key].append(x)
        twin.append(recorder.twin_difference(seed))
        epochs.append([len(f.curve.val_log_q) for f in recorder.seen["fits"]])
    print(f"{case}: cross-fitted rows over seeds {first}-{first + seeds - 1} (calibration.py's Q settings)")
    for family, r in runs.items():
        if not r["value"]:
            continue
        sd = float(np.std(r["value"], ddof=1))
        pairs_v, q_fit_v = float(np.mean(r["pairs"])), float(np.mean(r["q_fit"]))
        rest = sd**2 - pairs_v - q_fit_v
        print(f"  {family:13s} SD {sd:.5f} | √pairs {math.sqrt(pairs_v):.5f} | √Q fit {math.sqrt(q_fit_v):.5f} | "
              f"unexplained {math.copysign(math.sqrt(abs(rest)), rest):+.5f} | (F−1)²·Q fit would add "
              f"{math.sqrt(15 * q_fit_v):.5f} | stderr / SD {np.mean(r['stderr']) / sd:.2f} | "
              f"coverage {coverage(r['value'], r['stderr']):.2f} | "
              f"flagged few_terms {np.mean(r['few']):.0%}")  # fmt: skip
    d, spread = np.array(twin).T
    print(
        f"  one Q's fitting noise from its initialisation (½·mean of (twin − Q)²) / the fold Qs' spread: "
        f"{0.5 * float(np.mean(d**2)) / float(np.mean(spread)):.2f}"
    )
    e = np.array(epochs, dtype=np.float64)  # [seeds, F]
    within = float(e.var(axis=1, ddof=1).mean())
    between = max(0.0, float(e.mean(axis=1).var(ddof=1)) - within / e.shape[1])
    print(f"  epochs each fold's Q ran: mean {e.mean():.1f}; share of their variance shared by one seed's folds "
          f"(intraclass correlation) {between / (between + within):.2f}")  # fmt: skip
    for family, r in runs.items():  # the value less what its pair variance (the miss count) explains, vs epochs
        if len(r["value"]) > 2:
            x = np.c_[np.ones(len(r["pairs"])), r["pairs"]]
            rest = np.asarray(r["value"]) - x @ np.linalg.lstsq(x, np.asarray(r["value"]), rcond=None)[0]
            print(f"  {family}: correlation of the value, beyond its pair variance, with the seed's mean epochs "
                  f"{np.corrcoef(e.mean(axis=1), rest)[0, 1]:+.2f}")  # fmt: skip


def flip_rate(case: Any, target: Any, seed: int) -> float:
    """Share of a symmetric-channel case's S pairs whose decoded symbol is not their code (one seed)."""
    p = generate_pairs(case.model, target, "prior", case.samples, torch.Generator().manual_seed(seed))
    return float((p.x_hat.flatten(1).argmax(1) != p.codes[0]).double().mean())


def flip_rates(seeds: int) -> None:
    print("flip rate of each case's S pairs per seed: SD over seed ranges / binomial SD; exact Wald coverage")
    for case in decoder_cases(False):
        if not case.name.startswith("symmetric") or case.codes != "prior":
            continue
        eps, target = float(case.name.split("eps=")[1].split()[0]), parse_target(case.target, case.model.spec)

        rates = np.array([flip_rate(case, target, s) for s in range(seeds)])
        binomial = math.sqrt(eps * (1 - eps) / case.samples)
        ranges = [(lo, hi) for lo, hi in ((0, 60), (60, 120)) if hi <= seeds] + [(0, seeds)]
        spread = " | ".join(f"seeds {lo}-{hi - 1}: {rates[lo:hi].std(ddof=1) / binomial:.2f}" for lo, hi in ranges)
        k = np.arange(case.samples + 1)
        p_hat = k / case.samples
        wald = float((binom.pmf(k, case.samples, eps) * (np.abs(p_hat - eps) <= 1.96 * np.sqrt(
            p_hat * (1 - p_hat) / case.samples))).sum())  # fmt: skip
        print(f"  {case.name:34s} {spread} | expected flips {eps * case.samples:.0f}, Wald coverage {wald:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("parts")
    p.add_argument("case", help="a calibration case (part of its name; the first match)")
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--seeds", type=int, default=60)
    f = sub.add_parser("flip-rates")
    f.add_argument("--seeds", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread")
    if args.mode == "parts":
        parts(args.case, args.first, args.seeds)
    else:
        flip_rates(args.seeds)


if __name__ == "__main__":
    main()

"""Where the contrastive rows' variance comes from: the figures behind docs/estimators.md and docs/trust.md.

Two measurements, each printed with the machine:
- `fixed-q`: one seed's fold Qs held fixed while the fresh pairs are redrawn R times (the fixture MI model,
  or a calibration case by name). The SD of the contrastive values over the redraws is the pair variance
  given the Qs; beside it, the mean of the two estimates of it: the per-pair terms clustered by source
  image (`intervals.pair_variance`, this build) and the batch means (round 2), and the batch design
  effect (variance of the batch means over what independent terms give).
- `coverage CASE`: the cross-fitted rows of a calibration case over seeds FIRST..FIRST+N−1, with the
  calibration suite's settings: stderr / SD and the leave-one-out coverage of `calibration.py`.
How much a case's seeds spread by luck (flip rates): `interval_parts.py flip-rates`.

    .venv/bin/python benchmarks/contrastive_variance.py fixed-q --redraws 40
    .venv/bin/python benchmarks/contrastive_variance.py fixed-q --case linear --redraws 20
    .venv/bin/python benchmarks/contrastive_variance.py coverage linear --first 100 --seeds 60
"""

from __future__ import annotations

import argparse
import platform
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibration import Q_SETTINGS, coverage  # noqa: E402
from calibration_cases import decoder_cases  # noqa: E402

from vmieval.checkpoints import load_checkpoint  # noqa: E402
from vmieval.data import ImageData, fit_to_spec, load_images  # noqa: E402
from vmieval.encoded import encode_split  # noqa: E402
from vmieval.estimators import MIConfig, default_target  # noqa: E402
from vmieval.estimators.decoder import crossfit as cf  # noqa: E402
from vmieval.estimators.decoder.bound import code_log_marginal  # noqa: E402
from vmieval.estimators.decoder.intervals import pair_variance  # noqa: E402
from vmieval.estimators.decoder.pairs import generate_pairs  # noqa: E402
from vmieval.estimators.decoder.policy import resolve_policy  # noqa: E402
from vmieval.estimators.decoder.qnet import q_parts  # noqa: E402
from vmieval.spec import parse_target  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures/models/sample-joint-mi.pt"


def setting(case: str | None):  # noqa: ANN201 - (model, target, config, split)
    """The fixture MI model on its 500 test images with the default config, or a calibration case."""
    if case is None:
        model = load_checkpoint(FIXTURE)
        split = encode_split(model, fit_to_spec(load_images("mnist-sample", "test"), model.spec))
        return model, parse_target(default_target(model.spec), model.spec), MIConfig(), split
    c = next(c for c in decoder_cases(False) if case in c.name)
    split = None if c.images is None else encode_split(c.model, ImageData(c.images, None, "cal", "test", ""))
    config = MIConfig(target=c.target, codes=c.codes, samples=c.samples, **Q_SETTINGS)  # type: ignore[arg-type]
    return c.model, parse_target(c.target, c.model.spec), config, split


def draw(model, target, config, split, n: int, seed: int):  # noqa: ANN001, ANN201
    """n pairs as the cross-fit draws them (the codes' log p attached)."""
    posterior = split.posterior if split is not None and config.codes == "posterior" else None
    made = generate_pairs(model, target, config.codes, n, torch.Generator().manual_seed(seed), posterior)
    encoded = split if posterior is not None else None
    return replace(made, log_marginal=code_log_marginal(encoded, model.spec, target, made.codes, config.chunk))


def fixed_q(case: str | None, redraws: int) -> None:
    model, target, config, split = setting(case)
    g = torch.Generator().manual_seed(0)
    pairs = draw(model, target, config, split, config.samples, 0)
    parts = q_parts(model.spec, target)
    policy = resolve_policy(config, tuple(pairs.x_hat.shape[1:]), pairs.x_hat.device)
    fits = cf.fit_folds(pairs, cf.assign_folds(pairs.owner, cf.DEFAULT_FOLDS, g), cf.DEFAULT_FOLDS, parts, config,
                        g, None, policy)  # fmt: skip
    n_fresh, n_images = cf.fresh_count(config.samples, cf.DEFAULT_FOLDS), split.n if split is not None else None
    out: dict[str, list[tuple[float, float, float, float]]] = {k: [] for k in cf.CONTRASTIVE}
    for r in range(redraws):  # the fresh pairs continue the stratified sequence after the fitted ones
        fresh = draw(model, target, config, split, config.samples + n_fresh, 1000 + r).select(
            slice(config.samples, None)
        )
        scored = cf.score_fresh(fits, fresh, parts, cf.DEFAULT_BATCH)
        batch = int(scored.params["infonce"]["batch"])
        for name in cf.CONTRASTIVE:
            psi = scored.terms[name].numpy()
            means = psi.reshape(-1, batch).mean(1)
            by_batch = means.var(ddof=1) / means.shape[0]
            clustered = pair_variance(psi, scored.owner.numpy(), n_images)[0]
            out[name].append((float(psi.mean()), clustered, by_batch, by_batch / (psi.var(ddof=1) / psi.shape[0])))
    print(f"{case or 'fixture MI model'}: one seed's fold Qs fixed, {redraws} fresh draws of {n_fresh} pairs")
    for name, rows in out.items():
        a = np.array(rows)
        print(f"  {name:13s} SD given the Qs {a[:, 0].std(ddof=1):.4f} | clustered terms claim "
              f"{np.sqrt(a[:, 1].mean()):.4f} | batch means claimed {np.sqrt(a[:, 2].mean()):.4f} | "
              f"batch design effect {a[:, 3].mean():.2f}")  # fmt: skip


def coverage_over_seeds(case: str, first: int, seeds: int) -> None:
    model, target, config, split = setting(case)
    runs: dict[str, tuple[list[float], list[float]]] = {}
    for seed in range(first, first + seeds):
        result = cf.crossfit_q_bound(model, target, config, torch.Generator().manual_seed(seed), split)
        for e in result.estimates():
            if e.valid:
                values, stderrs = runs.setdefault(e.family, ([], []))
                values.append(e.value)
                stderrs.append(e.stderr)
    print(f"{case}: cross-fitted rows over seeds {first}-{first + seeds - 1} (calibration.py's Q settings)")
    for family, (values, stderrs) in runs.items():
        sd = float(np.std(values, ddof=1))
        print(f"  {family:13s} SD {sd:.4f} | stderr / SD {np.mean(stderrs) / sd:.2f} | "
              f"coverage {coverage(values, stderrs):.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    fq = sub.add_parser("fixed-q")
    fq.add_argument("--case", default=None, help="a calibration case (part of its name); default: the fixture")
    fq.add_argument("--redraws", type=int, default=40)
    cov = sub.add_parser("coverage")
    cov.add_argument("case")
    cov.add_argument("--first", type=int, default=0)
    cov.add_argument("--seeds", type=int, default=60)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread")
    if args.mode == "fixed-q":
        fixed_q(args.case, args.redraws)
    else:
        coverage_over_seeds(args.case, args.first, args.seeds)


if __name__ == "__main__":
    main()

"""`q_bound`: the decoder-side bounds from one Q fitted on a single fit / validation / held-out split.

Rows as in `rows.py`, each with the per-pair stderr of its held-out mean (n = held-out pairs): it
ignores Q's fitting noise, which the cross-fitted default (`crossfit.py`) includes.
"""

from __future__ import annotations

import time

import torch

from vmieval.distributions import prior_entropy
from vmieval.encoded import EncodedSplit
from vmieval.errors import UsageError
from vmieval.estimators.config import MIConfig
from vmieval.estimators.decoder.bound import QBoundResult, entropy_terms, fano_bound
from vmieval.estimators.decoder.fit import epoch_progress, evaluate_q, fit_q
from vmieval.estimators.decoder.pairs import generate_pairs
from vmieval.estimators.decoder.plan import Progress, plan_line, seconds_per_pair
from vmieval.estimators.decoder.policy import resolve_policy
from vmieval.estimators.decoder.qnet import q_parts
from vmieval.estimators.decoder.rows import RowMaker, Scores, q_params, q_rows
from vmieval.estimators.estimate import mean_and_stderr
from vmieval.frozen import FrozenVAE
from vmieval.spec import Target


def q_bound(
    model: FrozenVAE,
    target: Target,
    config: MIConfig,
    generator: torch.Generator,
    split: EncodedSplit | None = None,
    progress: Progress | None = None,
) -> QBoundResult:
    """Fit Q on generated pairs and report the bounds on I(t; x_hat) on the held-out pairs.

    `split` is the encoded dataset: posterior codes are drawn from it and H(q̄) is read from it.
    """
    if config.codes == "posterior" and split is None:
        raise UsageError("posterior codes need an encoded split")
    spec, label = model.spec, target.label()
    posterior = split.posterior if split is not None and config.codes == "posterior" else None
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    on_batch = (lambda done, total: progress("pairs", done, total)) if progress is not None else None
    policy = resolve_policy(config, tuple(spec.observation_shape), model.device)
    pairs = generate_pairs(
        model, target, config.codes, config.samples, generator, posterior, on_batch=on_batch, transform=policy.front
    )
    n_fit, n_val, n_test = config.split_sizes()
    fit, val = pairs.select(slice(0, n_fit)), pairs.select(slice(n_fit, n_fit + n_val))
    test = pairs.select(slice(n_fit + n_val, None))
    seconds["generate"] = time.perf_counter() - t0

    parts = q_parts(spec, target)
    if progress is not None:
        progress(plan_line(config, 1, seconds_per_pair(pairs, parts, config, policy.on_pooled())), 1, 1)
    q, curve = fit_q(fit, val, parts, config, generator, epoch_progress(progress, "Q fit"), policy.on_pooled())
    if progress is not None:
        progress("Q fit", len(curve.val_log_q), len(curve.val_log_q))
    seconds["fit"] = curve.seconds

    t0 = time.perf_counter()
    log_q, hits = evaluate_q(q, test)
    paper_h = prior_entropy(spec, target)
    encoded = split if posterior is not None else None
    h_terms, choice = entropy_terms(encoded, target, test.codes, paper_h, config)
    make = RowMaker(label, config, q_params(config, choice, encoded, **policy.params()), curve.still_improving, n_test)

    def ba(terms: torch.Tensor) -> tuple[float, float, None]:
        return (*mean_and_stderr(terms), None)

    def fano(j: int, h_c: float, hits_j: torch.Tensor, k: int, accuracy: float) -> tuple[float, float, None]:
        return (*fano_bound(h_c, 1.0 - accuracy, k, n_test), None)

    scores = Scores(log_q, hits, h_terms, choice, paper_h)
    rows, _, accuracy = q_rows(make, scores, parts, target, encoded, ba, fano)
    seconds["score"] = time.perf_counter() - t0
    return QBoundResult(label, config.codes, config.q_arch, tuple(rows), curve, accuracy, float(h_terms.mean()),
                        choice, paper_h, n_fit, n_val, n_test, seconds)  # fmt: skip

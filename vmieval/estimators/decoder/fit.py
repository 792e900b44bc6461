"""Fitting the post-hoc Q(t | x_hat) to a frozen decoder, with early stopping on a validation split.

Q maximises the mean log Q(t | x_hat) over the fit pairs (Adam, shuffled minibatches). After each
epoch the validation mean log Q is measured; the weights of the best epoch are kept, every epoch
without an improvement halves the learning rate (`ReduceLROnPlateau`: a Gaussian Q's log-variance
head makes plain Adam oscillate near the optimum), and training stops after `patience` such epochs
in a row. A Q whose best epoch is the last one allowed was still improving: its bound is flagged. Gradients
are clipped to norm GRAD_CLIP so a rare pair with a tiny predicted variance cannot blow up a step.
The held-out pairs that score the bound are never seen here, so the bound is not inflated by Q
memorising its own training samples.
Q's initial weights come from a seed drawn from the caller's generator (inside `fork_rng`, so the
global RNG the user may rely on is left as it was).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from vmieval.estimators.config import MIConfig
from vmieval.estimators.decoder.pairs import GeneratedPairs
from vmieval.estimators.decoder.policy import FitPolicy, resolve_policy
from vmieval.estimators.decoder.qnet import QNetwork, QPart

EpochCallback = Callable[[int, int, float], None]  # (epoch, max_epochs, validation mean log Q)
MIN_IMPROVEMENT = 1e-4  # nats: smaller validation gains do not reset the patience counter
GRAD_CLIP = 10.0


@dataclass(frozen=True)
class QCurve:
    """Q's training history, one entry per epoch: mean training −log Q and validation mean log Q
    (nats per pair). `best_epoch` (1-based) is the epoch whose weights were kept, `max_epochs` the
    cap; the sample counts let a benchmark turn wall time into FLOP/s."""

    train_nll: tuple[float, ...]
    val_log_q: tuple[float, ...]
    best_epoch: int
    stopped_early: bool
    seconds: float
    samples_trained: int
    samples_scored: int
    max_epochs: int = 0

    @property
    def still_improving(self) -> bool:
        """The best epoch was the last one allowed: Q might have improved further."""
        return self.best_epoch == self.max_epochs

    def to_dict(self) -> dict[str, object]:
        return {
            "train_nll": list(self.train_nll),
            "val_log_q": list(self.val_log_q),
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "seconds": self.seconds,
            "samples_trained": self.samples_trained,
            "samples_scored": self.samples_scored,
            "max_epochs": self.max_epochs,
            "still_improving": self.still_improving,
        }


def epoch_progress(progress: Callable[[str, int, int], None] | None, phase: str) -> EpochCallback | None:
    """An EpochCallback that reports `phase` as (epoch, max_epochs)."""
    if progress is None:
        return None
    return lambda epoch, total, _: progress(phase, epoch, total)


@torch.no_grad()
def evaluate_q(q: QNetwork, pairs: GeneratedPairs, batch_size: int = 4096) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Per pair: log Q(t | x_hat) [S] (float64, CPU), and for each categorical part a bool [S] that is
    True where argmax Q(c | x_hat) equals the code (an empty tensor for a Gaussian part)."""
    q.eval()
    log_q: list[torch.Tensor] = []
    hits: list[list[torch.Tensor]] = [[] for _ in q.parts]
    for i in range(0, len(pairs), batch_size):
        x = pairs.x_hat[i : i + batch_size]
        codes = [c[i : i + batch_size].to(x.device) for c in pairs.codes]
        outputs = q(x)  # one forward pass gives both
        log_q.append(q.log_q(outputs, codes).double().cpu())
        for j, (part, out, code) in enumerate(zip(q.parts, outputs, codes, strict=True)):
            if part.kind == "categorical":
                hits[j].append((out.argmax(dim=1) == code.long()).cpu())
    correct = [torch.cat(h) if h else torch.empty(0, dtype=torch.bool) for h in hits]
    return torch.cat(log_q), correct


def fit_q(
    fit: GeneratedPairs,
    val: GeneratedPairs,
    parts: tuple[QPart, ...],
    config: MIConfig,
    generator: torch.Generator,
    on_epoch: EpochCallback | None = None,
    policy: FitPolicy | None = None,
) -> tuple[QNetwork, QCurve]:
    """Train a fresh QNetwork on `fit`, early-stopped on `val`; returns the best-epoch Q and its curve.

    `policy` (precision, front end, optimiser) defaults to `resolve_policy` for these pairs."""
    start = time.perf_counter()
    device = fit.x_hat.device
    shape = tuple(fit.x_hat.shape[1:])
    policy = policy or resolve_policy(config, shape, device)
    init_seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        q = QNetwork(shape, parts, config.q_arch, config.q_hidden, policy.pool, policy.precision == "bf16")
        q = q.to(device)
    optimiser = policy.adam(q.parameters(), config.lr)
    # Halve the rate after every epoch without a gain of MIN_IMPROVEMENT (eps=0: never stop halving).
    schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimiser, mode="max", factor=0.5, patience=0, threshold=MIN_IMPROVEMENT, threshold_mode="abs", eps=0.0
    )
    x_hat = q.through_front(fit.x_hat)  # pooled and cast once, not at every step (the same bits)
    codes = [c.to(device) for c in fit.codes]
    n = len(fit)
    train_nll: list[float] = []
    val_log_q: list[float] = []
    best, best_epoch, best_state, waited = -float("inf"), 0, None, 0
    trained = scored = 0
    for epoch in range(1, config.max_epochs + 1):
        q.train()
        order = torch.randperm(n, generator=generator).to(device)
        total = 0.0
        for i in range(0, n, config.batch_size):
            idx = order[i : i + config.batch_size]
            x = x_hat.index_select(0, idx)  # the rows x_hat[idx], by the faster gather kernel
            loss = -q.log_q(q.from_front(x), [c[idx] for c in codes]).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(q.parameters(), GRAD_CLIP)
            optimiser.step()
            total += float(loss.detach()) * idx.shape[0]
        trained += n
        log_q, _ = evaluate_q(q, val)
        scored += len(val)
        current = float(log_q.mean())
        train_nll.append(total / n)
        val_log_q.append(current)
        if on_epoch is not None:
            on_epoch(epoch, config.max_epochs, current)
        if current > best + MIN_IMPROVEMENT:
            best, best_epoch, waited = current, epoch, 0
            best_state = {k: v.detach().clone() for k, v in q.state_dict().items()}
        else:
            waited += 1
            if waited >= config.patience:
                break
        schedule.step(current)
    if best_state is not None:
        q.load_state_dict(best_state)
    q.eval()
    curve = QCurve(
        train_nll=tuple(train_nll),
        val_log_q=tuple(val_log_q),
        best_epoch=best_epoch,
        stopped_early=len(val_log_q) < config.max_epochs,
        seconds=time.perf_counter() - start,
        samples_trained=trained,
        samples_scored=scored,
        max_epochs=config.max_epochs,
    )
    return q, curve

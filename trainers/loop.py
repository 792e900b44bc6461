"""The training loop of the reference models: per batch a Q step, then a VAE step.

The Q step maximises E[log Q(target | x_hat)] on the detached decoder output, tightening the
Barber-Agakov bound for the current decoder; the VAE step then minimises -ELBO - lam·MI through
the updated Q (objective `elbo`: lam = 0 and no MI term, but Q is still trained so the recorded
bound of an ELBO model is measured the same way as an MI model's).

After each epoch the model is written atomically as a native checkpoint (training record: config,
seed, dataset, history, epochs_done) beside a resume sidecar (Q, optimisers, generator states, and a
copy of the checkpoint, so that a kill between the two writes can always be resumed; see resume.py).
All randomness comes from three generators seeded from `config.seed`: initial weights (a forked
global RNG), the batch order, and the sampling noise; held-out metrics use a fourth, reseeded each
epoch. The same seed therefore gives the same initial VAE and Q whatever the objective.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from vmieval.trainers.augment import AffineRange, random_affine
from vmieval.trainers.history import evaluate
from vmieval.trainers.objectives import (
    consistency_divergence,
    entropy_note,
    forward,
    mi_bound,
    q_loss,
    target_entropy,
)
from vmieval.trainers.presets import TrainConfig, pair_configs
from vmieval.trainers.resume import load_resume, save_run, sidecar_path

from vmieval.architectures import build_architecture
from vmieval.checkpoints.native import parse_metadata
from vmieval.data import load_images
from vmieval.devices import resolve_device
from vmieval.distributions import Posterior
from vmieval.errors import CheckpointError, UsageError
from vmieval.estimators.decoder.qnet import QNetwork, q_parts
from vmieval.outputs import check_writable
from vmieval.spec import ModelSpec, Target, parse_target


@dataclass(frozen=True)
class TrainEvent:
    """What a progress display needs: `start` (total steps), `step`, `epoch` (with its record)."""

    kind: Literal["start", "step", "epoch"]
    label: str
    step: int
    total: int
    record: dict[str, Any] | None = None
    status: str = ""


Callback = Callable[[TrainEvent], None]


@dataclass(frozen=True)
class TrainResult:
    config: TrainConfig
    path: Path
    resume_path: Path
    device: str
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last(self) -> dict[str, Any]:
        return self.history[-1] if self.history else {}


def temperature_at(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Geometric decay from start to end over `temperature_anneal_epochs`, per step, then constant."""
    progress = min(1.0, step / max(1, config.temperature_anneal_epochs * steps_per_epoch))
    return config.temperature_start * (config.temperature_end / config.temperature_start) ** progress


def beta_z_at(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """KL weight of the Gaussian blocks: `beta_z`, or its linear decay to 1 over `beta_z_anneal_epochs`."""
    if config.beta_z_anneal_epochs <= 0:
        return config.beta_z
    progress = min(1.0, step / max(1, config.beta_z_anneal_epochs * steps_per_epoch))
    return config.beta_z + (1.0 - config.beta_z) * progress


def build_models(config: TrainConfig) -> tuple[nn.Module, QNetwork]:
    """The initial VAE and Q, on the CPU, from `config.seed` alone (identical for both objectives)."""
    spec = config.spec()
    target = parse_target(config.mi_target, spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        module = build_architecture(config.architecture, config.arch_config, spec)
        q = QNetwork(spec.observation_shape, q_parts(spec, target), config.q_architecture, config.q_hidden)
    return module, q


class _Run:
    """The mutable state of one training run: networks, optimisers, generators, history."""

    def __init__(self, config: TrainConfig, device: torch.device) -> None:
        self.config = config
        self.device = device
        self.spec: ModelSpec = config.spec()
        self.target: Target = parse_target(config.mi_target, self.spec)
        module, q = build_models(config)
        self.module, self.q = module.to(device).train(), q.to(device).train()
        self.opt_vae = torch.optim.Adam(self.module.parameters(), lr=config.lr)
        self.opt_q = torch.optim.Adam(self.q.parameters(), lr=config.q_lr)
        self.generators = {
            "order": torch.Generator().manual_seed(config.seed + 1),
            "sample": torch.Generator(device).manual_seed(config.seed + 2),
        }
        # The views' moves get their own stream, so the order and sampling noise match the pair's ELBO model.
        self.uses_consistency = config.objective == "mi" and config.consistency > 0
        if self.uses_consistency:
            self.generators["augment"] = torch.Generator().manual_seed(config.seed + 4)
        self.moves = AffineRange(config.augment_shift, config.augment_rotation, config.augment_scale)
        self.history: list[dict[str, Any]] = []

    def restore(self, state_dict: dict[str, torch.Tensor], side: dict[str, Any], history: list) -> None:
        self.module.load_state_dict(state_dict, strict=True)
        self.q.load_state_dict(side["q"], strict=True)
        self.opt_vae.load_state_dict(side["optimisers"]["vae"])
        self.opt_q.load_state_dict(side["optimisers"]["q"])
        for name, g in self.generators.items():
            g.set_state(side["rng"][name])
        self.history = list(history)

    def epoch(
        self, train: torch.Tensor, heldout: torch.Tensor, label: str, step0: int, total: int, callback: Callback | None
    ) -> dict[str, Any]:
        """One pass over `train` [N, C, H, W] in a fresh random order, then held-out metrics."""
        cfg = self.config
        n = train.shape[0]
        bs = min(cfg.batch_size, n)
        steps = n // bs
        order = torch.randperm(n, generator=self.generators["order"])
        sums = torch.zeros(4 if self.uses_consistency else 3, device=self.device)
        t0 = time.perf_counter()
        tau = cfg.temperature_start
        for i in range(steps):
            tau = temperature_at(cfg, len(self.history) * steps + i, steps)
            x = train[order[i * bs : (i + 1) * bs].to(train.device)]
            fp = forward(self.module, self.spec, self.target, x, self.generators["sample"], tau)

            self.q.requires_grad_(True)
            self.opt_q.zero_grad(set_to_none=True)
            loss_q = q_loss(self.q, fp)
            loss_q.backward()
            self.opt_q.step()

            self.opt_vae.zero_grad(set_to_none=True)
            elbo = fp.elbo.mean()
            loss = -elbo
            beta_z = beta_z_at(cfg, len(self.history) * steps + i, steps)
            if beta_z != 1.0:
                kl_z = sum(v.sum(dim=1) for v in fp.kl_dims.values())
                loss = loss + (beta_z - 1.0) * kl_z.mean()
            if cfg.objective == "mi" and cfg.lam > 0:
                self.q.requires_grad_(False)
                loss = loss - cfg.lam * mi_bound(self.q, fp, self.spec, self.target, cfg.entropy).value
            terms = []
            if self.uses_consistency:
                view = random_affine(x, self.generators["augment"], self.moves)
                divergence = consistency_divergence(
                    fp.posterior, Posterior.from_flat(self.spec, self.module.encode(view))
                )
                loss = loss + cfg.consistency * divergence.mean()
                terms.append(divergence.mean().detach())
            loss.backward()
            self.opt_vae.step()

            h = target_entropy(self.spec, self.target, fp.posterior, cfg.entropy).detach()
            sums += torch.stack([loss.detach(), elbo.detach(), h - loss_q.detach(), *terms])
            if callback is not None:
                callback(TrainEvent("step", label, step0 + i + 1, total, status=f"loss {float(loss.detach()):.1f}"))
        train_loss, train_elbo, train_mi, *consistency = (sums / steps).tolist()
        eval_gen = torch.Generator(self.device).manual_seed(cfg.seed + 3)
        record = {
            "epoch": len(self.history) + 1,
            "temperature": tau,
            "train_loss": train_loss,
            "train_elbo": train_elbo,
            "train_mi": train_mi,
            **({"train_consistency": consistency[0]} if consistency else {}),
            **evaluate(self.module, self.q, self.spec, self.target, heldout, cfg.entropy, eval_gen),
        }
        record["seconds"] = time.perf_counter() - t0
        self.history.append(record)
        return record


def _training_record(config: TrainConfig, run: _Run, n_train: int, n_heldout: int) -> dict[str, Any]:
    return {
        "config": config.to_dict(),
        "preset": config.preset,
        "objective": config.objective,
        "lam": config.lam,
        "entropy": config.entropy,
        "entropy_note": entropy_note(run.spec, run.target, config.entropy),
        "mi_target": config.mi_target,
        "seed": config.seed,
        "dataset": config.dataset,
        "n_train": n_train,
        "heldout": {"split": "test", "n": n_heldout},
        "device": str(run.device),
        "epochs_done": len(run.history),
        "history": run.history,
    }


def _load_resume(config: TrainConfig, path: Path, run: _Run) -> None:
    """Restore a run from its last complete save (`load_resume`), refusing a different configuration."""
    payload, side = load_resume(path)
    training = parse_metadata(payload, str(path)).get("training") or {}
    try:
        saved = TrainConfig.from_dict(training["config"])
    except (KeyError, TypeError, ValueError, UsageError):
        raise CheckpointError(f"{path}: has no usable training config, so it cannot be resumed") from None
    free = {"epochs": config.epochs, "device": config.device, "data_dir": config.data_dir}
    if saved.replace(**free) != config:
        differ = sorted(k for k, v in config.to_dict().items() if saved.to_dict().get(k) != v and k not in free)
        raise UsageError(f"{path} was trained with different settings ({', '.join(differ)}); resume with the same")
    if side["epochs_done"] != training.get("epochs_done"):
        raise CheckpointError(f"{path}: checkpoint and resume state disagree on the epochs done")
    try:
        run.restore(payload["state_dict"], side, training.get("history") or [])
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
        detail = " ".join(str(exc).split())[:200]
        raise CheckpointError(f"{sidecar_path(path)}: resume state does not fit this run ({detail})") from None


def train(
    config: TrainConfig,
    path: str | Path,
    resume: bool = False,
    force: bool = False,
    callback: Callback | None = None,
) -> TrainResult:
    """Train one reference model into the native checkpoint `path` (see the module docstring).

    With `resume`, an existing checkpoint and its sidecar are continued from the last finished
    epoch up to `config.epochs`; the result equals an uninterrupted run bit for bit on the same
    device. Without `resume` or `force`, an existing checkpoint is an OutputError.
    """
    if config.loss == "paper":  # iteration-budget runs; imported here because paper_loop imports this module
        from vmieval.trainers.paper_loop import train_paper

        return train_paper(config, path, resume=resume, force=force, callback=callback)
    path = Path(path)
    resuming = resume and (path.exists() or sidecar_path(path).exists())
    check_writable(path, force=force or resuming)
    device = resolve_device(config.device)
    run = _Run(config, device)
    if resuming:
        _load_resume(config, path, run)
    train_data = load_images(config.dataset, "train", config.data_dir, limit=config.limit)
    heldout = load_images(config.dataset, "test", config.data_dir, limit=config.heldout)
    images = train_data.images.to(device)
    heldout_images = heldout.images.to(device)
    steps = len(images) // min(config.batch_size, len(images))
    remaining = max(0, config.epochs - len(run.history))
    total = remaining * steps
    label = config.label()
    if callback is not None:
        callback(TrainEvent("start", label, 0, total))
    for e in range(remaining):
        record = run.epoch(images, heldout_images, label, e * steps, total, callback)
        if not all(math.isfinite(v) for v in (record["train_loss"], record["elbo"])):
            raise UsageError(f"{label}: training diverged at epoch {record['epoch']}; lower --lr or --lam")
        training = _training_record(config, run, len(images), len(heldout_images))
        optimisers = {"vae": run.opt_vae.state_dict(), "q": run.opt_q.state_dict()}
        save_run(path, run.module, config.architecture, config.arch_config, run.spec, training, config.to_dict(),
                 len(run.history), run.q.state_dict(), optimisers, run.generators)  # fmt: skip
        if callback is not None:
            callback(TrainEvent("epoch", label, (e + 1) * steps, total, record=record))
    return TrainResult(config, path, sidecar_path(path), str(device), run.history)


def pair_paths(config: TrainConfig, out_dir: str | Path) -> tuple[Path, Path]:
    elbo, mi = pair_configs(config)
    return Path(out_dir) / f"{elbo.label()}.pt", Path(out_dir) / f"{mi.label()}.pt"


def train_pair(
    config: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    force: bool = False,
    callback: Callback | None = None,
) -> tuple[TrainResult, TrainResult]:
    """The ELBO and MI models of a preset, from identical initial weights, batch order and noise.

    Both output paths are checked before either model trains, so a refusal costs nothing.
    """
    configs = pair_configs(config)
    paths = pair_paths(config, out_dir)
    for p in paths:
        check_writable(p, force=force or (resume and p.exists()))
    elbo = train(configs[0], paths[0], resume=resume, force=force, callback=callback)
    mi = train(configs[1], paths[1], resume=resume, force=force, callback=callback)
    return elbo, mi

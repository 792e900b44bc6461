"""Iteration-budget training of the paper presets (`TrainConfig.loss == "paper"`), resumable mid-epoch.

Per iteration, as the paper's code does: a VAE step (MSE + kl_w·KL + MI term through the current Q),
then a Q step on a fresh no-grad pass of the updated VAE, with separate Adam optimisers. Batches are
drawn without replacement, `drop_last`, in an order fixed by (seed, epoch), so a run resumed at any
iteration sees exactly the batches an uninterrupted run would; both objectives of a seed see the same
batches, noise and initial weights.

Every `eval_every` iterations one history record is appended (`PAPER_HISTORY_KEYS`): the training
terms averaged over the interval, the held-out metrics of `history.evaluate` (eval-mode batch norm:
the frozen model `report` loads), and for a categorical block the cluster accuracies: Hungarian on the
held-out test images and majority vote on the first `eval_train_images` training images, both with
running batch-norm statistics, plus `acc_majority_train_paper`, the paper's own protocol (batch norm
in train mode, batches of `batch_size`). Every `checkpoint_every` iterations (and at the end, or when
`stop()` says so) the checkpoint and its resume sidecar are written; the sidecar's progress counter
(`epochs_done`) holds the iterations done for these runs.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from vmieval.trainers.history import EVALUATION_KEYS, evaluate
from vmieval.trainers.loop import Callback, TrainEvent, TrainResult, build_models, resolve_device, temperature_at
from vmieval.trainers.objectives import entropy_note, forward
from vmieval.trainers.paper_objective import q_batch, q_step_loss, vae_terms
from vmieval.trainers.presets import TrainConfig
from vmieval.trainers.resume import load_resume, save_run, sidecar_path

from vmieval.analysis.cluster import hungarian_accuracy, majority_accuracy
from vmieval.checkpoints.native import parse_metadata
from vmieval.data import fit_to_spec, load_images
from vmieval.errors import CheckpointError, UsageError
from vmieval.outputs import check_writable
from vmieval.spec import ModelSpec, parse_target

PAPER_HISTORY_KEYS = (
    "iteration",
    "epoch",
    "seconds",
    "temperature",
    "train_loss",
    "train_mse",
    "train_kl",
    "train_ce",
    "train_q_loss",
    *EVALUATION_KEYS,
    "acc_hungarian_test",
    "acc_majority_train",
    "acc_majority_train_paper",
)
# Settings that may change between sessions of one run: the budget, where it runs, how often it saves.
RESUMABLE_CHANGES = ("iterations", "device", "data_dir", "checkpoint_every")


def epoch_order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The batch order of one epoch [n], a function of (seed, epoch) alone (what makes mid-epoch resume exact)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


@torch.no_grad()
def category_argmax(
    module: torch.nn.Module,
    spec: ModelSpec,
    block: str,
    images: torch.Tensor,
    chunk: int,
    batch_norm_train: bool = False,
) -> np.ndarray:
    """argmax q(c|x) [N] of categorical `block` for images [N, C, H, W], encoded `chunk` at a time.

    `batch_norm_train` is the paper's evaluation protocol: batch norm on the statistics of each
    chunk (so the answer depends on the chunking), run on a copy so that the module's running
    statistics do not move. Otherwise the module is used in the mode it is in.
    """
    start, stop = spec.param_offsets()[block]
    net = copy.deepcopy(module).train() if batch_norm_train else module
    out = [net.encode(images[i : i + chunk])[:, start:stop].argmax(1) for i in range(0, len(images), chunk)]
    return torch.cat(out).cpu().numpy()


class PaperRun:
    """Networks, optimisers, the sampling generator, the iteration counter and the history of one run."""

    def __init__(self, config: TrainConfig, device: torch.device) -> None:
        self.config, self.device = config, device
        self.spec = config.spec()
        self.target = parse_target(config.mi_target, self.spec)
        module, q = build_models(config)
        self.module, self.q = module.to(device).train(), q.to(device).train()
        self.opt_vae = torch.optim.Adam(self.module.parameters(), lr=config.lr)
        self.opt_q = torch.optim.Adam(self.q.parameters(), lr=config.q_lr)
        self.generators = {"sample": torch.Generator(device).manual_seed(config.seed + 2)}
        self.use_mi = config.objective == "mi" and config.lam > 0
        weights = config.mi_part_weights or (1.0,) * len(self.target.parts)
        self.mi_weights = tuple(config.lam * w for w in weights)
        self.iteration = 0
        self.history: list[dict[str, Any]] = []
        self._order: tuple[int, torch.Tensor] | None = None

    def batch(self, n: int) -> torch.Tensor:
        """Indices [batch_size] of this iteration's batch (`drop_last`: a partial last batch is skipped)."""
        bs = self.config.batch_size
        steps = n // bs
        epoch, pos = divmod(self.iteration, steps)
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, epoch_order(self.config.seed, epoch, n))
        return self._order[1][pos * bs : (pos + 1) * bs]

    def step(self, x: torch.Tensor, tau: float) -> torch.Tensor:
        """One VAE step then one Q step on the batch x [B, C, H, W]; returns the logged terms [T] (detached)."""
        cfg, gen = self.config, self.generators["sample"]
        fp = forward(self.module, self.spec, self.target, x, gen, tau)
        if self.use_mi:
            self.q.requires_grad_(False)  # Q's gradients from this step would be discarded anyway
            batch = q_batch(self.module, self.spec, self.target, fp, gen, cfg.mi_on_prior)
            terms = vae_terms(fp, x, cfg.kl_weight, self.q, batch, self.mi_weights)
            self.q.requires_grad_(True)
        else:
            terms = vae_terms(fp, x, cfg.kl_weight)
        self.opt_vae.zero_grad(set_to_none=True)
        terms.total.backward()
        self.opt_vae.step()

        with torch.no_grad():
            fp_q = forward(self.module, self.spec, self.target, x, gen, tau)
            batch_q = q_batch(self.module, self.spec, self.target, fp_q, gen, cfg.mi_on_prior)
        self.opt_q.zero_grad(set_to_none=True)
        loss_q = q_step_loss(self.q, batch_q)
        loss_q.backward()
        self.opt_q.step()
        ce = terms.ce or [torch.full((), math.nan, device=x.device)] * len(self.target.parts)
        return torch.stack([terms.total, terms.mse, *terms.kl.values(), *ce, loss_q]).detach()

    def record(self, sums: torch.Tensor, count: int, data: dict[str, torch.Tensor], tau: float) -> dict[str, Any]:
        """One history record: interval means of the training terms, held-out metrics, cluster accuracies."""
        cfg = self.config
        values = (sums / max(count, 1)).tolist()
        blocks = [b.name for b in self.spec.blocks]
        parts = [p.label() for p in self.target.parts]
        kl = dict(zip(blocks, values[2 : 2 + len(blocks)], strict=True))
        ce = dict(zip(parts, values[2 + len(blocks) : -1], strict=True))
        eval_gen = torch.Generator(self.device).manual_seed(cfg.seed + 3)
        heldout = evaluate(self.module, self.q, self.spec, self.target, data["test"], cfg.entropy, eval_gen)
        record: dict[str, Any] = {
            "iteration": self.iteration,
            "epoch": self.iteration * cfg.batch_size / data["train"].shape[0],
            "temperature": tau,
            "train_loss": values[0],
            "train_mse": values[1],
            "train_kl": kl,
            "train_ce": {k: (None if math.isnan(v) else v) for k, v in ce.items()},
            "train_q_loss": values[-1],
            **heldout,
        }
        record.update(self.cluster_accuracies(data))
        return record

    @torch.no_grad()
    def cluster_accuracies(self, data: dict[str, torch.Tensor]) -> dict[str, float | None]:
        """argmax q(c|x) of the first categorical block as a clustering (None values without one)."""
        blocks = self.spec.blocks_of_kind("categorical")
        if not blocks:
            return {"acc_hungarian_test": None, "acc_majority_train": None, "acc_majority_train_paper": None}
        block, k = blocks[0].name, blocks[0].size
        self.module.eval()
        test = category_argmax(self.module, self.spec, block, data["test"], 1000)
        train = category_argmax(self.module, self.spec, block, data["train_eval"], 1000)
        self.module.train()
        bs = self.config.batch_size
        n = data["train_eval"].shape[0] // bs * bs
        paper = category_argmax(self.module, self.spec, block, data["train_eval"][:n], bs, batch_norm_train=True)
        return {
            "acc_hungarian_test": hungarian_accuracy(test, data["test_labels"].numpy(), k)[0],
            "acc_majority_train": majority_accuracy(train, data["train_eval_labels"].numpy(), k)[0],
            "acc_majority_train_paper": majority_accuracy(paper, data["train_eval_labels"][:n].numpy(), k)[0]
            if n
            else None,
        }

    def restore(self, payload: dict[str, Any], side: dict[str, Any], training: dict[str, Any]) -> None:
        self.module.load_state_dict(payload["state_dict"], strict=True)
        self.q.load_state_dict(side["q"], strict=True)
        self.opt_vae.load_state_dict(side["optimisers"]["vae"])
        self.opt_q.load_state_dict(side["optimisers"]["q"])
        for name, g in self.generators.items():
            g.set_state(side["rng"][name])
        self.iteration = int(training["iterations_done"])
        self.history = list(training.get("history") or [])

    def save(self, path: Path, n_train: int, n_heldout: int) -> None:
        cfg = self.config
        training = {
            "config": cfg.to_dict(),
            "preset": cfg.preset,
            "objective": cfg.objective,
            "lam": cfg.lam,
            "entropy": cfg.entropy,
            "entropy_note": entropy_note(self.spec, self.target, cfg.entropy),
            "mi_target": cfg.mi_target,
            "seed": cfg.seed,
            "dataset": cfg.dataset,
            "n_train": n_train,
            "heldout": {"split": "test", "n": n_heldout},
            "device": str(self.device),
            "iterations_done": self.iteration,
            "epochs_done": self.iteration * cfg.batch_size // n_train,
            "history": self.history,
        }
        optimisers = {"vae": self.opt_vae.state_dict(), "q": self.opt_q.state_dict()}
        # One resumable unit whatever moment a kill comes at: the sidecar (holding the checkpoint) first.
        save_run(path, self.module, cfg.architecture, cfg.arch_config, self.spec, training, cfg.to_dict(),
                 self.iteration, self.q.state_dict(), optimisers, self.generators)  # fmt: skip


def _resume(config: TrainConfig, path: Path, run: PaperRun) -> None:
    """Continue `run` from `path` and its sidecar, refusing a checkpoint trained with other settings."""
    payload, side = load_resume(path)  # the last complete save; repairs a checkpoint a kill left behind
    training = parse_metadata(payload, str(path)).get("training") or {}
    try:
        saved = TrainConfig.from_dict(training["config"])
        done = int(training["iterations_done"])
    except (KeyError, TypeError, ValueError, UsageError):
        raise CheckpointError(
            f"{path}: has no usable iteration-budget training record, so it cannot be resumed"
        ) from None
    free = {name: getattr(config, name) for name in RESUMABLE_CHANGES}
    if saved.replace(**free) != config:
        differ = sorted(k for k, v in config.to_dict().items() if saved.to_dict().get(k) != v and k not in free)
        raise UsageError(f"{path} was trained with different settings ({', '.join(differ)}); resume with the same")
    if side["epochs_done"] != done:
        raise CheckpointError(f"{path}: checkpoint and resume state disagree on the iterations done")
    run.restore(payload, side, training)


def _load_data(config: TrainConfig, spec: ModelSpec, device: torch.device) -> dict[str, torch.Tensor]:
    # fit_to_spec maps [0, 1] pixels onto the spec's range ([-1, 1] here), as `report` does.
    train = fit_to_spec(load_images(config.dataset, "train", config.data_dir, limit=config.limit), spec)
    test = fit_to_spec(load_images(config.dataset, "test", config.data_dir, limit=config.heldout), spec)
    if len(train) < config.batch_size:
        raise UsageError(f"{len(train)} training images are fewer than one batch of {config.batch_size}")
    images = train.images.to(device)
    n_eval = min(config.eval_train_images, len(train))
    return {
        "train": images,
        "train_eval": images[:n_eval],
        "train_eval_labels": train.labels[:n_eval],
        "test": test.images.to(device),
        "test_labels": test.labels,
    }


def train_paper(
    config: TrainConfig,
    path: str | Path,
    resume: bool = False,
    force: bool = False,
    callback: Callback | None = None,
    stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train (or continue) one paper-preset model into `path` up to `config.iterations` (module docstring).

    `stop` is polled after every iteration: when it returns True the run records, checkpoints and returns
    early, so a signal handler can end a long run cleanly; `resume` continues it later.
    """
    path = Path(path)
    resuming = resume and (path.exists() or sidecar_path(path).exists())
    check_writable(path, force=force or resuming)
    device = resolve_device(config.device)
    run = PaperRun(config, device)
    if resuming:
        _resume(config, path, run)
    data = _load_data(config, run.spec, device)
    n = data["train"].shape[0]
    steps_per_epoch = n // config.batch_size
    label, total = config.label(), max(0, config.iterations - run.iteration)
    if callback is not None:
        callback(TrainEvent("start", label, 0, total))
    sums, count, t0, done, tau = None, 0, time.perf_counter(), 0, config.temperature_start
    while run.iteration < config.iterations:
        tau = temperature_at(config, run.iteration, steps_per_epoch)
        terms = run.step(data["train"][run.batch(n).to(device)], tau)
        sums, count = (terms if sums is None else sums + terms), count + 1
        run.iteration, done = run.iteration + 1, done + 1
        if callback is not None:
            callback(TrainEvent("step", label, done, total, status=f"it {run.iteration}"))
        stopping = stop is not None and stop()
        if not (run.iteration % config.eval_every == 0 or run.iteration == config.iterations or stopping):
            continue
        record = run.record(sums, count, data, tau)
        record["seconds"] = time.perf_counter() - t0
        run.history.append(record)
        if not all(math.isfinite(v) for v in (record["train_loss"], record["elbo"])):
            raise UsageError(f"{label}: training diverged at iteration {run.iteration}; lower --lr or --lam")
        if run.iteration % config.checkpoint_every == 0 or run.iteration == config.iterations or stopping:
            run.save(path, n, data["test"].shape[0])
        if callback is not None:
            callback(TrainEvent("epoch", label, done, total, record=record))
        sums, count, t0 = None, 0, time.perf_counter()
        if stopping:
            break
    if not path.exists():  # a budget already reached on resume still leaves a checkpoint behind
        run.save(path, n, data["test"].shape[0])
    return TrainResult(config, path, sidecar_path(path), str(device), run.history)

"""Per-latent summary of Gaussian blocks: KL to the prior and I_q(x; z_j) per dimension, active units.

The first thing to read about a VAE with Gaussian latents is which dims carry information at all.
Per dim j of every Gaussian block, on an encoded split of N images:
- `kl[j]` = mean_x KL(q(z_j|x) || N(0, 1)), closed form: an upper bound on I_q(x; z_j);
- `iq[j]` ≈ I_q(x; z_j), the Monte-Carlo estimate with the dataset as the mixture (one code per
  image), capped at log N: exact sums (`encoder.monte_carlo_mi`, O(N²) per dim) up to `EXACT_IQ_LIMIT`
  images, above that each mixture from `REFERENCES` systematic references per code, own term exact
  (`factor_sampling.sampled_dim_terms`, O(N·M), its subsampling noise inside the stderr);
- active units (Burda et al. 2016, "Importance Weighted Autoencoders", sec. 5.2): dim j is active when
  Var_x(E_q[z_j|x]) > `ACTIVE_THRESHOLD` = 0.01.
`default_dims` and `weak_target_warnings` use the same KL, so the default MI target of a Gaussian-only
model is its two highest-KL dims, and a named target that carries almost none of its block's KL says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vmieval.distributions import GaussianPosterior
from vmieval.encoded import EncodedSplit
from vmieval.estimators.encoder import monte_carlo_mi
from vmieval.estimators.factor_sampling import sampled_dim_terms
from vmieval.spec import Target

ACTIVE_THRESHOLD = 0.01  # Burda et al. 2016: Var_x E_q[z_j | x] above this marks an active unit
WEAK_SHARE = 0.05  # a target with less than this share of its block's KL gets a warning
EXACT_IQ_LIMIT = 2048  # images up to which I_q(x; z_j) sums every mixture exactly (N² densities per dim)
REFERENCES = 256  # systematic references per code above it (the factor matrix's M)


@dataclass(frozen=True)
class LatentSummary:
    """Per-dim numbers [D] over every Gaussian block (spec order); `iq` is NaN where not computed."""

    names: tuple[str, ...]  # "z[0]", ...
    blocks: tuple[str, ...]  # the block of each dim
    kl: np.ndarray
    kl_stderr: np.ndarray
    iq: np.ndarray
    iq_stderr: np.ndarray
    mean_variance: np.ndarray  # Var_x E_q[z_j | x]
    n: int
    split: str
    active_threshold: float = ACTIVE_THRESHOLD

    @property
    def active(self) -> np.ndarray:
        return self.mean_variance > self.active_threshold

    @property
    def n_active(self) -> int:
        return int(self.active.sum())

    def order(self) -> np.ndarray:
        """Dim indices by decreasing KL (ties: lower index first)."""
        return np.argsort(-self.kl, kind="stable")

    def tree(self) -> dict[str, Any]:
        """The report's `latents/` group."""
        return {
            "attrs": {
                "available": True,
                "split": self.split,
                "n": self.n,
                "unit": "nats",
                "active_threshold": self.active_threshold,
                "active_definition": "Var_x E_q[z_j|x] > active_threshold (Burda et al. 2016)",
                "n_active": self.n_active,
                "kl_estimator": "E_x KL(q(z_j|x) || N(0,1)), closed form",
                "iq_estimator": (
                    "Monte Carlo, full-dataset mixture, one code per image, capped at log N"
                    if self.n <= EXACT_IQ_LIMIT
                    else f"Monte Carlo, full-dataset mixture from {REFERENCES} systematic references per code "
                    "(own term exact), one code per image, capped at log N"
                ),
            },
            "latent": list(self.names),
            "block": list(self.blocks),
            "kl": self.kl,
            "kl_stderr": self.kl_stderr,
            "iq": self.iq,
            "iq_stderr": self.iq_stderr,
            "mean_variance": self.mean_variance,
            "active": self.active,
            "order": self.order().astype(np.int64),
        }


def latent_generator(seed: int) -> torch.Generator:
    """The summary's own generator: seeded apart from every report stage, so adding it moved no other draw."""
    return torch.Generator().manual_seed(2**41 + int(seed))


def _gaussians(split: EncodedSplit) -> list[tuple[str, GaussianPosterior]]:
    return [(b.name, split.block(b.name)) for b in split.spec.blocks_of_kind("gaussian")]  # type: ignore[misc]


def _mean_and_stderr(terms: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Column means of [N, D] terms and their standard errors (float64)."""
    t = terms.double()
    n = t.shape[0]
    return t.mean(0).numpy(), (t.std(0, correction=1) / n**0.5).numpy() if n > 1 else np.full(t.shape[1], np.nan)


def latent_summary(
    split: EncodedSplit, generator: torch.Generator | None = None, chunk: int = 1024, with_iq: bool = True
) -> LatentSummary | None:
    """KL, I_q and active units per Gaussian dim of `split`; None for a model without a Gaussian block.
    `generator` draws the Monte-Carlo codes of I_q, dim by dim in spec order."""
    blocks = _gaussians(split)
    if not blocks:
        return None
    names, owners, kl, kl_se, iq, iq_se, var = [], [], [], [], [], [], []
    for name, block in blocks:
        for j in range(block.size):  # one float64 dim at a time: [N, D] float64 copies cost GBs at dSprites' N
            post = block.dims(range(j, j + 1)).to(torch.float64)
            value, se = _mean_and_stderr(post.kl_per_dim())
            kl.append(value), kl_se.append(se)
            var.append(post.mean.var(0, correction=0).numpy())
            names.append(f"{name}[{j}]")
            owners.append(name)
            if with_iq and split.n <= EXACT_IQ_LIMIT:
                v, s = monte_carlo_mi([post], generator or torch.Generator(), chunk)
            elif with_iq:
                terms = sampled_dim_terms(
                    post.mean[:, 0], post.logvar[:, 0], generator or torch.Generator(), REFERENCES
                )
                v, s = (float(x[0]) for x in _mean_and_stderr(terms[:, None]))
            else:
                v, s = np.nan, np.nan
            iq.append(v), iq_se.append(s)
    return LatentSummary(
        tuple(names), tuple(owners), np.concatenate(kl), np.concatenate(kl_se), np.array(iq, dtype=np.float64),
        np.array(iq_se, dtype=np.float64), np.concatenate(var), split.n, split.split,
    )  # fmt: skip


def block_kl(split: EncodedSplit, block: str) -> np.ndarray:
    """mean_x KL(q(z_j|x) || N(0,1)) per dim of one Gaussian block [D] (float64)."""
    return split.block(block).to(torch.float64).kl_per_dim().mean(0).numpy()  # type: ignore[union-attr]


def top_dims(kl: np.ndarray, k: int = 2) -> list[int]:
    """The `k` highest-KL dims, in increasing index order (ties: lower index first)."""
    return sorted(int(j) for j in np.argsort(-kl, kind="stable")[:k])


def dims_target(block: str, dims: list[int]) -> str:
    """`z[3:5]` for adjacent dims, else `z[3:4],z[7:8]` (the canonical spelling of `z[3],z[7]`)."""
    if dims == list(range(dims[0], dims[-1] + 1)):
        return f"{block}[{dims[0]}:{dims[-1] + 1}]"
    return ",".join(f"{block}[{j}:{j + 1}]" for j in dims)


def weak_target_warnings(split: EncodedSplit, target: Target) -> list[str]:
    """A warning per Gaussian slice of `target` that carries under `WEAK_SHARE` of its block's KL."""
    out: list[str] = []
    for part in target.parts:
        if part.start is None or split.spec.block(part.block).kind != "gaussian":
            continue
        kl = block_kl(split, part.block)
        total, share = float(kl.sum()), float(kl[part.start : part.stop].sum())
        if total <= 0 or share >= WEAK_SHARE * total:
            continue
        best = top_dims(kl, 2)
        shown = ", ".join(f"{part.block}[{j}] {kl[j]:.2f}" for j in sorted(best, key=lambda j: -kl[j]))
        out.append(
            f"target {part.label()} carries {share:.2f} of block {part.block}'s {total:.2f} nats of KL "
            f"({100 * share / total:.1f}%, under {100 * WEAK_SHARE:.0f}%): its MI is near 0 by construction; "
            f"the highest-KL dims are {shown} (--target '{dims_target(part.block, best)}')"
        )
    return out

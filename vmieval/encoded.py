"""`EncodedSplit`: one split encoded once by one model, the input of every estimator and analysis.

Encoding is the one step every number shares (MI, ELBO, cluster scores, contingency, traversals),
so `encode_split` runs the encoder exactly once per image and keeps what downstream code needs: the
posterior of every block, the labels and ground-truth factors that came with the images, and the
per-image quantities more than one consumer reads (KL to the prior per block and per dim, the
aggregate posterior q̄(c) of each categorical block and its entropy H(q̄)). Analyses that must
decode (the ELBO's reconstruction term, traversals, the Q bound's generated pairs) take the
FrozenVAE beside it; nothing else calls the encoder again.

Precision: the posterior is kept as the encoder computed it (float32 on the CPU: float64 copies
would hold no more information); every reduction over images and everything an estimator computes
from it is float64 (`target` gives a target's parts in float64).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from vmieval.distributions import BlockPosterior, CategoricalPosterior, Posterior, categorical_entropy
from vmieval.errors import DataError
from vmieval.frozen import ENCODE_BATCH, FrozenVAE
from vmieval.spec import ModelSpec, Target

if TYPE_CHECKING:
    from vmieval.data import ImageData

AGGREGATE_DTYPE = torch.float64


@dataclass(frozen=True, eq=False)
class EncodedSplit:
    """N images of one split, encoded by one model.

    `posterior`: block name -> posterior object, N rows each (float32, CPU, spec order).
    `images` [N, C, H, W] (a reference to the data's tensor, not a copy), `labels` int64 [N] or None,
    `factors` [N, F] or None with `factor_names` [F]; `dataset`, `split`, `source` name the data.
    `kl` block -> KL(q(block|x) || p(block)) per image [N]; `kl_per_dim` Gaussian block -> [N, D].
    `aggregate_log_probs` categorical block -> log q̄(c) [K] (float64); `aggregate_entropy` its H(q̄).
    """

    spec: ModelSpec
    posterior: Posterior
    images: torch.Tensor
    labels: torch.Tensor | None
    dataset: str
    split: str
    source: str = ""
    factors: torch.Tensor | None = None
    factor_names: tuple[str, ...] = ()
    kl: dict[str, torch.Tensor] = field(default_factory=dict)
    kl_per_dim: dict[str, torch.Tensor] = field(default_factory=dict)
    aggregate_log_probs: dict[str, torch.Tensor] = field(default_factory=dict)
    aggregate_entropy: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.posterior.n

    @property
    def n(self) -> int:
        return self.posterior.n

    @property
    def labelled(self) -> bool:
        return self.labels is not None

    def block(self, name: str) -> BlockPosterior:
        self.spec.block(name)  # an unknown name is a UsageError naming the blocks
        return self.posterior[name]

    def target(self, target: Target) -> list[BlockPosterior]:
        """The target's parts in float64: categorical log-probabilities (normalised), Gaussian dims."""
        return [
            p.normalise(AGGREGATE_DTYPE) if isinstance(p, CategoricalPosterior) else p.to(AGGREGATE_DTYPE)
            for p in self.posterior.slice(target)
        ]

    def subset(self, rows: torch.Tensor) -> Posterior:
        """The posterior of some images (e.g. the traversal samples) without encoding them again."""
        return self.posterior.index(rows)


def encode_split(model: FrozenVAE, data: ImageData, batch_size: int = ENCODE_BATCH) -> EncodedSplit:
    """Encode every image of `data` once, `batch_size` images per encoder call, and derive the
    per-image quantities several consumers share."""
    images, labels = data.images, data.labels
    if len(images) == 0:
        raise DataError(f"the {data.name} {data.split} split holds no images")
    if labels is not None and labels.shape[0] != images.shape[0]:
        raise DataError(f"{images.shape[0]} images but {labels.shape[0]} labels")
    posterior = model.encode_all(images, batch_size=batch_size)
    kl, kl_per_dim = posterior.kl_terms()
    log_bar: dict[str, torch.Tensor] = {}
    h_bar: dict[str, float] = {}
    for name, post in posterior.items():
        if isinstance(post, CategoricalPosterior):
            log_bar[name] = post.normalise(AGGREGATE_DTYPE).aggregate_log_probs()
            h_bar[name] = float(categorical_entropy(log_bar[name]))
    return EncodedSplit(
        spec=model.spec,
        posterior=posterior,
        images=images,
        labels=labels,
        dataset=data.name,
        split=data.split,
        source=data.source,
        factors=getattr(data, "factors", None),
        factor_names=tuple(getattr(data, "factor_names", ())),
        kl=kl,
        kl_per_dim=kl_per_dim,
        aggregate_log_probs=log_bar,
        aggregate_entropy=h_bar,
    )

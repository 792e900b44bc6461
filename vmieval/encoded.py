"""`EncodedSplit`: one split encoded once by one model, the input of every estimator and analysis.

Encoding is the one step every number shares (MI, ELBO, cluster scores, contingency, traversals),
so `encode_split` runs the encoder exactly once per image and keeps what downstream code needs: the
posterior of every block, the labels and ground-truth factors that came with the images, and the
per-image quantities more than one consumer reads (KL to the prior per block and per dim, the
aggregate posterior q̄(c) of each categorical block and its entropy H(q̄)). Analyses that must
decode (the ELBO's reconstruction term, traversals, the Q bound's generated pairs) take the
FrozenVAE beside it; nothing else calls the encoder again.

Streaming: `encode_split` takes a streaming `vmieval.data.Dataset` (or a split held in memory,
`ImageData`) and iterates its `batches`, so only one batch of float32 images exists at a time; the
split keeps a reference to the data, not its pixels. The two decoding analyses that need images read
them back: the ELBO streams the batches again (`image_batches`), traversals read their few picked
images (`images_at`).

Precision: the posterior is kept as the encoder computed it (float32 on the CPU: float64 copies
would hold no more information); every reduction over images and everything an estimator computes
from it is float64 (`target` gives a target's parts in float64).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from vmieval.data.dataset import Dataset, ImageData
from vmieval.distributions import BlockPosterior, CategoricalPosterior, Posterior, categorical_entropy
from vmieval.errors import DataError
from vmieval.frozen import ENCODE_BATCH, FrozenVAE
from vmieval.spec import ModelSpec, Target

AGGREGATE_DTYPE = torch.float64


@dataclass(frozen=True, eq=False)
class EncodedSplit:
    """N images of one split, encoded by one model.

    `posterior`: block name -> posterior object, N rows each (float32, CPU, spec order).
    `data`: the images' Dataset or ImageData (a reference, not a copy: `image_batches`, `images_at`
    read pixels back), `labels` int64 [N] or None,
    `factors` [N, F] or None with `factor_names` [F]; `dataset`, `split`, `source` name the data.
    `kl` block -> KL(q(block|x) || p(block)) per image [N]; `kl_per_dim` Gaussian block -> [N, D].
    `aggregate_log_probs` categorical block -> log q̄(c) [K] (float64); `aggregate_entropy` its H(q̄).
    """

    spec: ModelSpec
    posterior: Posterior
    data: Dataset | ImageData
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

    @property
    def images(self) -> torch.Tensor:
        """All images [N, C, H, W] of a split held in memory (a streamed split has none to give)."""
        if not isinstance(self.data, ImageData):
            raise TypeError("a streamed split holds no images; use image_batches or images_at")
        return self.data.images

    def image_batches(self, batch_size: int) -> Iterator[tuple[slice, torch.Tensor]]:
        """The images again, in encoding order: (rows of the split, images [B, C, H, W]) per batch."""
        start = 0
        for batch in self.data.batches(batch_size):
            stop = start + len(batch.images)
            yield slice(start, stop), batch.images
            start = stop

    def images_at(self, positions: torch.Tensor) -> torch.Tensor:
        """The images at `positions` [K] of the split, in that order: [K, C, H, W]. A streamed
        split reads just those images from its source."""
        if isinstance(self.data, ImageData):
            return self.data.images[positions]
        wanted = np.asarray(positions, dtype=np.int64).reshape(-1)
        unique, back = np.unique(wanted, return_inverse=True)
        picked = Dataset(self.data.source, self.data.fit, self.data.indices_at(unique))
        read = torch.cat([b.images for b in picked.batches(max(1, len(unique)))])
        return read[torch.from_numpy(back.reshape(-1))]

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


def encode_split(model: FrozenVAE, data: Dataset | ImageData, batch_size: int = ENCODE_BATCH) -> EncodedSplit:
    """Encode every image of `data` once, streaming `batch_size` images per encoder call, and derive
    the per-image quantities several consumers share. Labels and factors of a held split are kept
    as they are (no copy); a streamed split's are gathered batch by batch."""
    n = len(data)
    if n == 0:
        raise DataError(f"the {data.name} {data.split} split holds no images")
    held = isinstance(data, ImageData)
    if held and data.labels is not None and data.labels.shape[0] != n:
        raise DataError(f"{n} images but {data.labels.shape[0]} labels")
    # Outputs are allocated once at their final size and filled batch by batch: per-batch pieces kept
    # in lists would interleave with each batch's large temporary activations and fragment the heap.
    flat = labels = factors = None
    start = 0
    for batch in data.batches(batch_size):
        params = model.encode_params(batch.images)
        stop = start + params.shape[0]
        flat = _fill(flat, params, start, stop, n)
        if not held:
            labels = _fill(labels, batch.labels, start, stop, n)
            factors = _fill(factors, batch.factors, start, stop, n)
        start = stop
    if flat is None or start != n:
        raise DataError(f"the {data.name} {data.split} split promised {n} images but gave {start}")
    posterior = Posterior.from_flat(model.spec, flat)
    kl, kl_per_dim = posterior.kl_terms()
    log_bar: dict[str, torch.Tensor] = {}
    h_bar: dict[str, float] = {}
    for name, post in posterior.items():
        if isinstance(post, CategoricalPosterior):
            log_bar[name] = post.normalise(AGGREGATE_DTYPE).aggregate_log_probs()
            h_bar[name] = float(categorical_entropy(log_bar[name]))
    if held:
        split_labels, split_factors = data.labels, data.factors
    else:
        split_labels, split_factors = labels, factors
    return EncodedSplit(
        spec=model.spec,
        posterior=posterior,
        data=data,
        labels=split_labels,
        dataset=data.name,
        split=data.split,
        source=data.source if held else data.source.origin(),
        factors=split_factors,
        factor_names=tuple(data.factor_names),
        kl=kl,
        kl_per_dim=kl_per_dim,
        aggregate_log_probs=log_bar,
        aggregate_entropy=h_bar,
    )


def _fill(out: torch.Tensor | None, part: torch.Tensor | None, start: int, stop: int, n: int) -> torch.Tensor | None:
    """Write one batch's rows `part` [B, ...] into `out` [N, ...] (allocated, on the CPU, at the first batch)."""
    if part is None:
        return out
    if out is None:
        out = torch.empty((n, *part.shape[1:]), dtype=part.dtype)
    out[start:stop] = part
    return out

"""Generated (code, x_hat) pairs: the samples of the decoder-side joint p(t, x_hat) that Q learns from.

x_hat is the decoder MEAN (the sigmoid of Bernoulli logits, or the Gaussian mean), not a pixel
sample: the estimand is I(t; x_hat) for the image the decoder would show, and sampling pixels would
only add noise that hides the code. All pairs are made once, in large batches, before Q is fitted.

Posterior codes: image indices are a concatenation of random permutations of the dataset
(stratified, so every image is used equally), each code is drawn from q(z, c | x_index), the whole
latent is decoded, and the target's parts are kept. Because the split into fit / validation /
held-out is contiguous in that order, the three sets use disjoint images whenever samples ≤ N.
Prior codes: z ~ N(0, I), c ~ Uniform(K), with no image behind them (owner = -1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from vmieval.distributions import Posterior, concat_latent, sample_prior, target_values
from vmieval.frozen import FrozenVAE
from vmieval.spec import Target

DECODE_BATCH = 2048  # codes per decoder call


@dataclass(frozen=True, eq=False)
class GeneratedPairs:
    """S pairs: `x_hat` float32 [S, C, H, W] on the model's device; `codes` per target part (indices
    [S] for a categorical part, values [S, d] for Gaussian dims, CPU); `owner` [S] the index of the
    image whose posterior drew the code (-1 under prior codes); `log_marginal` [S] log p(t) of each code
    under the marginal it was drawn from, where a bound needs it (`bound.code_log_marginal`), else None."""

    x_hat: torch.Tensor
    codes: list[torch.Tensor]
    owner: torch.Tensor
    source: str
    log_marginal: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.owner.shape[0])

    def select(self, rows: slice | torch.Tensor) -> GeneratedPairs:
        """The pairs at `rows` (a slice, or indices [n] on the CPU)."""
        x_rows = rows.to(self.x_hat.device) if isinstance(rows, torch.Tensor) else rows
        log_p = None if self.log_marginal is None else self.log_marginal[rows]
        return GeneratedPairs(self.x_hat[x_rows], [c[rows] for c in self.codes], self.owner[rows], self.source, log_p)


def stratified_owners(n_images: int, n_samples: int, generator: torch.Generator) -> torch.Tensor:
    """Image indices [n_samples]: whole random permutations of range(N), concatenated and cut."""
    rounds = -(-n_samples // n_images)
    return torch.cat([torch.randperm(n_images, generator=generator) for _ in range(rounds)])[:n_samples]


@torch.no_grad()
def generate_pairs(
    model: FrozenVAE,
    target: Target,
    codes: str,
    n_samples: int,
    generator: torch.Generator,
    posterior: Posterior | None = None,
    batch_size: int = DECODE_BATCH,
    on_batch: Callable[[int, int], None] | None = None,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> GeneratedPairs:
    """Draw `n_samples` codes (from `posterior`, the encoded dataset, or from the prior) and decode them;
    `on_batch(done, total)` after every decoder call. `transform`, a fixed function of x_hat (Q's pooling
    front, `FitPolicy.front`), is applied to each decoded batch, so only what Q reads is stored."""
    spec = model.spec
    if codes == "posterior":
        if posterior is None:
            raise ValueError("posterior codes need the encoded dataset")
        owner = stratified_owners(posterior.n, n_samples, generator)
    else:
        owner = torch.full((n_samples,), -1, dtype=torch.long)
    categorical = [spec.block(p.block).kind == "categorical" for p in target.parts]
    x_parts: list[torch.Tensor] = []
    code_parts: list[list[torch.Tensor]] = []
    for i in range(0, n_samples, batch_size):
        rows = owner[i : i + batch_size]
        if posterior is not None and codes == "posterior":
            latent = posterior.index(rows).sample(generator)
        else:
            latent = sample_prior(spec, rows.shape[0], generator)
        x_hat = model.decode_mean(concat_latent(spec, latent))
        x_parts.append(transform(x_hat) if transform is not None else x_hat)
        values = target_values(spec, target, latent)
        code_parts.append([v.argmax(dim=1) if cat else v for v, cat in zip(values, categorical, strict=True)])
        if on_batch is not None:
            on_batch(i + rows.shape[0], n_samples)
    joined = [torch.cat([c[j] for c in code_parts]) for j in range(len(target.parts))]
    return GeneratedPairs(torch.cat(x_parts), joined, owner, codes)

"""Per-epoch metrics of a reference model, measured on a held-out batch of the test split.

Each epoch appends one JSON-ready dict to `training["history"]` in the checkpoint. Held-out
numbers use hard (one-hot) categorical codes, the discrete model that downstream estimators load,
and a generator reseeded identically every epoch, so epoch-to-epoch changes are the model's and
not the sampling noise's. Keys (all values in nats per image unless said otherwise):

- `epoch` (1-based), `seconds` (wall time of the epoch), `temperature` (Gumbel-softmax, at the end);
- `train_loss` (mean VAE objective, -ELBO - lam·MI), `train_elbo`, `train_mi` (the bound with the
  Q network as it was before each Q step), all averaged over the epoch's training batches;
- `elbo`, `recon` (E log p(x|code)), `kl` {block: E KL}, `kl_per_dim` {Gaussian block: [D]};
- `mi_bound` = `mi_entropy` + `mi_log_q`: the training Q's Barber-Agakov bound on the target with
  the configured H; `mi_bound_aggregate` the same with H of the held-out aggregate posterior (a
  valid bound whatever H trained the model; prior entropy for Gaussian dims);
- `iq_exact` {categorical block: H(mean_x q(c|x)) - mean_x H(q(c|x))}, exact on the held-out images.
"""

from __future__ import annotations

import torch
from torch import nn
from vmieval.trainers.objectives import forward, target_entropy

from vmieval.distributions import CategoricalPosterior, Posterior
from vmieval.estimators.decoder.qnet import QNetwork
from vmieval.estimators.encoder import categorical_mi
from vmieval.spec import ModelSpec, Target

# What `evaluate` records on held-out images; both trainers' histories carry these keys.
EVALUATION_KEYS = (
    "elbo",
    "recon",
    "kl",
    "kl_per_dim",
    "mi_bound",
    "mi_entropy",
    "mi_log_q",
    "mi_bound_aggregate",
    "iq_exact",
)
HISTORY_KEYS = ("epoch", "seconds", "temperature", "train_loss", "train_elbo", "train_mi", *EVALUATION_KEYS)


@torch.no_grad()
def evaluate(
    module: nn.Module,
    q: QNetwork,
    spec: ModelSpec,
    target: Target,
    images: torch.Tensor,
    entropy_mode: str,
    generator: torch.Generator,
    chunk: int = 1000,
) -> dict[str, object]:
    """Held-out metrics of the current model and Q on `images` [N, C, H, W] (already on device).

    Both networks are put in eval mode (batch-norm running statistics) and back in train mode.
    """
    module.eval()
    q.eval()
    n = images.shape[0]
    log_px = torch.zeros((), device=images.device)
    log_q = torch.zeros((), device=images.device)
    kl = {b.name: torch.zeros((), device=images.device) for b in spec.blocks}
    kl_dims = {b.name: torch.zeros(b.size, device=images.device) for b in spec.blocks if b.kind == "gaussian"}
    params = []
    for start in range(0, n, chunk):
        fp = forward(module, spec, target, images[start : start + chunk], generator, None)
        log_px += fp.log_px.sum()
        log_q += q.log_likelihood(fp.x_hat, fp.targets).sum()
        for name in kl:
            kl[name] += fp.kl[name].sum()
        for name in kl_dims:
            kl_dims[name] += fp.kl_dims[name].sum(dim=0)
        params.append(module.encode(images[start : start + chunk]))
    module.train()
    q.train()
    posterior = Posterior.from_flat(spec, torch.cat(params))
    entropy = float(target_entropy(spec, target, posterior, entropy_mode))
    entropy_aggregate = float(target_entropy(spec, target, posterior, "aggregate"))
    kl_mean = {name: float(v) / n for name, v in kl.items()}
    recon = float(log_px) / n
    iq_exact = {
        name: categorical_mi(post.log_probs)[0]
        for name, post in posterior.items()
        if isinstance(post, CategoricalPosterior)
    }
    return {
        "elbo": recon - sum(kl_mean.values()),
        "recon": recon,
        "kl": kl_mean,
        "kl_per_dim": {name: (v / n).tolist() for name, v in kl_dims.items()},
        "mi_bound": entropy + float(log_q) / n,
        "mi_entropy": entropy,
        "mi_log_q": float(log_q) / n,
        "mi_bound_aggregate": entropy_aggregate + float(log_q) / n,
        "iq_exact": iq_exact,
    }

"""JointVAE (Dupont 2018, github.com/Schlumberger/joint-vae), rebuilt so its published state dicts load.

The attribute names and layer indices below are the original's, so a JointVAE `model.pt` loads with
`strict=True` and no key renaming. Layout for 32x32 inputs (64x64 adds one stride-2 stage each side):
    img_to_features     conv 4x4/2 C->32, ReLU, conv 32->64, ReLU, conv 64->64, ReLU   -> [B, 64, 4, 4]
    features_to_hidden  Linear(1024, 256), ReLU
    fc_mean, fc_log_var Linear(256, cont)        (the Gaussian block z)
    fc_alphas[i]        Linear(256, k_i)         (one categorical block per discrete latent)
    latent_to_features  Linear(cont + sum k, 256), ReLU, Linear(256, 1024), ReLU
    features_to_img     convT 64->32, ReLU, convT 32->32, ReLU, convT 32->C (then Sigmoid)
Two deliberate differences from the original, both exact re-expressions of the same model:
- JointVAE's encoder returns softmax probabilities ("alphas"); we return `log_softmax` of the same
  pre-activations, whose softmax is those alphas, without the precision lost by log(softmax).
- JointVAE's decoder ends in a Sigmoid and is trained with binary cross-entropy on its output; we
  return the pre-sigmoid values, i.e. the Bernoulli logits of the same likelihood.
The decoder input is the continuous sample followed by the discrete ones, in `fc_alphas` order, as in
JointVAE's `reparameterize`; the spec must list its blocks in that order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vmieval.architectures.registry import register
from vmieval.spec import ModelSpec

FEATURES = (64, 4, 4)  # JointVAE's `self.reshape`: the feature map between convs and linears


@dataclass(frozen=True)
class JointVAEConfig:
    """JointVAE fixes every width but the hidden one; the image size picks 3 or 4 conv stages."""

    hidden: int = 256


def latent_layout(spec: ModelSpec) -> tuple[int, tuple[int, ...]]:
    """(continuous dim, discrete sizes) of a spec in JointVAE order, or ValueError if it has none.

    JointVAE has at most one Gaussian block and it comes first; any number of categorical blocks follow.
    """
    blocks = list(spec.blocks)
    cont = blocks.pop(0).size if blocks and blocks[0].kind == "gaussian" else 0
    if any(b.kind != "categorical" for b in blocks):
        raise ValueError("JointVAE's latent is one Gaussian block followed by categorical blocks, in that order")
    return cont, tuple(b.size for b in blocks)


class JointVAE(nn.Module):
    """`encode(x [B, C, S, S]) -> [B, P]`, `decode(latent [B, L]) -> Bernoulli logits [B, C, S, S]`."""

    def __init__(self, config: JointVAEConfig, spec: ModelSpec) -> None:
        super().__init__()
        channels, height, width = spec.observation_shape
        if (height, width) not in ((32, 32), (64, 64)):
            raise ValueError(f"JointVAE takes 32x32 or 64x64 images, the spec says {height}x{width}")
        if config.hidden <= 0:
            raise ValueError("hidden width must be positive")
        self.cont, self.disc = latent_layout(spec)
        big = height == 64
        hidden, flat = config.hidden, FEATURES[0] * FEATURES[1] * FEATURES[2]

        encoder: list[nn.Module] = [nn.Conv2d(channels, 32, 4, 2, 1), nn.ReLU()]
        if big:
            encoder += [nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU()]
        encoder += [nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU()]
        self.img_to_features = nn.Sequential(*encoder)
        self.features_to_hidden = nn.Sequential(nn.Linear(flat, hidden), nn.ReLU())
        if self.cont:
            self.fc_mean = nn.Linear(hidden, self.cont)
            self.fc_log_var = nn.Linear(hidden, self.cont)
        # JointVAE wraps each head in a one-layer ModuleList entry: keys are fc_alphas.<i>.weight.
        self.fc_alphas = nn.ModuleList(nn.Linear(hidden, k) for k in self.disc)

        self.latent_to_features = nn.Sequential(
            nn.Linear(spec.latent_width, hidden), nn.ReLU(), nn.Linear(hidden, flat), nn.ReLU()
        )
        decoder: list[nn.Module] = []
        if big:
            decoder += [nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU()]
        decoder += [
            nn.ConvTranspose2d(64, 32, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(32, channels, 4, 2, 1),
        ]
        self.features_to_img = nn.Sequential(*decoder)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.features_to_hidden(self.img_to_features(x).flatten(1))
        params: list[torch.Tensor] = []
        if self.cont:
            params += [self.fc_mean(hidden), self.fc_log_var(hidden)]
        params += [F.log_softmax(head(hidden), dim=-1) for head in self.fc_alphas]
        return torch.cat(params, dim=1)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.features_to_img(self.latent_to_features(latent).view(-1, *FEATURES))


@register("jointvae", JointVAEConfig)
def build_jointvae(config: JointVAEConfig, spec: ModelSpec) -> nn.Module:
    return JointVAE(config, spec)

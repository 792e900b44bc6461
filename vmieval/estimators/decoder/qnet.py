"""The auxiliary network Q(target | x): recovers latent codes from images.

Used twice: by the trainers (the MI regulariser of VMI-VAE) and by the post-hoc estimator (a fresh
Q fitted to a frozen decoder). One definition keeps the two bounds the same function.
Outputs, in target order: logits [B, K] for a categorical part; mean and log-variance [B, d] for a
slice of Gaussian dims (a Gaussian Q with learned, input-dependent variance), always float32.
`pool` > 1 puts a fixed average pooling in front (a fixed function of x: the Barber-Agakov bound
stays valid by data processing); `bf16` runs the layers under bfloat16 autocast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from vmieval.distributions import gaussian_log_density, part_width
from vmieval.spec import ModelSpec, Target

QArchitecture = Literal["mlp", "conv", "paper"]


@dataclass(frozen=True)
class QPart:
    """One target part: `categorical` with `size` = K, or `gaussian` with `size` = number of dims."""

    kind: Literal["categorical", "gaussian"]
    name: str
    size: int

    @property
    def output_width(self) -> int:
        return self.size if self.kind == "categorical" else 2 * self.size


def q_parts(spec: ModelSpec, target: Target) -> tuple[QPart, ...]:
    """Q's output heads for a target: K logits per categorical part, a Gaussian per slice of dims."""
    return tuple(QPart(spec.block(p.block).kind, p.label(), part_width(spec, p)) for p in target.parts)


def front_end(pool: int) -> nn.Module:
    """Q's fixed front end: average pooling by `pool` (no parameters, so no state keys), or nothing. One
    definition for Q's own front and for pairs pooled as they are decoded (`FitPolicy.front`)."""
    return nn.AvgPool2d(pool, ceil_mode=True) if pool > 1 else nn.Identity()


class QNetwork(nn.Module):
    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        parts: tuple[QPart, ...],
        architecture: QArchitecture = "mlp",
        hidden: int = 256,
        pool: int = 1,
        bf16: bool = False,
    ) -> None:
        super().__init__()
        self.parts = parts
        self.bf16 = bf16
        self.front = front_end(pool)
        c, h, w = observation_shape
        h, w = math.ceil(h / pool), math.ceil(w / pool)
        out = sum(p.output_width for p in parts)
        if architecture == "mlp":
            self.body = nn.Sequential(
                nn.Flatten(), nn.Linear(c * h * w, 2 * hidden), nn.ReLU(), nn.Linear(2 * hidden, hidden), nn.ReLU()
            )
        elif architecture == "conv":
            self.body = nn.Sequential(
                nn.Conv2d(c, 32, 4, 2, 1),
                nn.LeakyReLU(0.2),
                nn.Conv2d(32, 64, 4, 2, 1),
                nn.LeakyReLU(0.2),
                nn.Flatten(),
                nn.Linear(64 * math.ceil(h / 4) * math.ceil(w / 4), hidden),
                nn.LeakyReLU(0.2),
            )
        elif architecture == "paper":
            # The VMI-VAE paper's CatQNet: two 4x4/2 convs and a full-size conv (H/4 x W/4 -> 1x1), each
            # with batch norm; its final 1x1 conv is `head` below (a 1x1 conv on 1x1 maps is a Linear).
            self.body = nn.Sequential(
                nn.Conv2d(c, 64, 4, 2, 1),
                nn.BatchNorm2d(64),
                nn.LeakyReLU(0.2),
                nn.Conv2d(64, 128, 4, 2, 1),
                nn.BatchNorm2d(128),
                nn.LeakyReLU(0.2),
                nn.Conv2d(128, hidden, (h // 4, w // 4)),
                nn.BatchNorm2d(hidden),
                nn.LeakyReLU(0.2),
                nn.Flatten(),
            )
        else:
            raise ValueError(f"unknown Q architecture {architecture!r}")
        self.head = nn.Linear(hidden, out)

    @property
    def body_dtype(self) -> torch.dtype:
        """The dtype Q's body reads its input in: bfloat16 under bf16 autocast (autocast casts it at the first
        layer, at every call), else float32. An input stored in it gives the same outputs."""
        return torch.bfloat16 if self.bf16 else torch.float32

    @torch.no_grad()
    def through_front(self, x: torch.Tensor) -> torch.Tensor:
        """x through the fixed front end (pooling has no parameters, and autocast leaves it in float32) and
        cast to `body_dtype`: what `from_front` reads. A fit computes it once for all its epochs."""
        return self.front(x).to(self.body_dtype)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Raw outputs split per part: logits, or mean and log-variance concatenated [B, 2d]."""
        return self.from_front(self.front(x))

    def from_front(self, x: torch.Tensor) -> list[torch.Tensor]:
        """`forward` on x already through the front end (`through_front`)."""
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = self.head(self.body(x))
        return list(torch.split(out.float(), [p.output_width for p in self.parts], dim=1))

    def log_likelihood(self, x: torch.Tensor, targets: list[torch.Tensor]) -> torch.Tensor:
        """log Q(target | x) per row, [B], summed over parts.

        A categorical target may be an index [B], a one-hot or a relaxed one-hot [B, K] (soft
        targets give the cross-entropy against the relaxed sample, as in training).
        """
        return self.log_q(self(x), targets)

    def log_likelihood_parts(self, x: torch.Tensor, targets: list[torch.Tensor]) -> list[torch.Tensor]:
        """log Q(target part | x) per row, [B] per part (for objectives that weigh parts differently)."""
        return self.log_q_parts(self(x), targets)

    def log_q(self, outputs: list[torch.Tensor], targets: list[torch.Tensor]) -> torch.Tensor:
        """`log_likelihood` from a forward pass already made (`outputs = q(x)`), [B]."""
        total = torch.zeros(outputs[0].shape[0], device=outputs[0].device)
        for part_log_q in self.log_q_parts(outputs, targets):
            total = total + part_log_q
        return total

    def log_q_parts(self, outputs: list[torch.Tensor], targets: list[torch.Tensor]) -> list[torch.Tensor]:
        """`log_likelihood_parts` from a forward pass already made, [B] per part."""
        parts: list[torch.Tensor] = []
        for part, out, target in zip(self.parts, outputs, targets, strict=True):
            if part.kind == "categorical":
                log_q = F.log_softmax(out, dim=1)
                if target.dim() == 1:
                    parts.append(log_q.gather(1, target.long().unsqueeze(1)).squeeze(1))
                else:
                    parts.append((target * log_q).sum(dim=1))
            else:
                mean, logvar = out[:, : part.size], out[:, part.size :].clamp(-10.0, 10.0)
                parts.append(gaussian_log_density(target, mean, logvar).sum(dim=1))
        return parts

"""The cost policy of fitting Q, resolved once for a machine and an image size (all recorded in the rows).

- precision: bfloat16 autocast for Q's layers where the device does bf16 natively (a CPU with
  AVX512-BF16/AMX, a CUDA device that supports it), else float32; `MIConfig.precision` overrides.
  Whatever the precision, Q's outputs are float32 and normalised, so Q is a valid conditional and every
  bound stays a bound (docs/estimators.md, "Cost policy").
- front end: images larger than MAX_SIDE pixels a side are average-pooled by a fixed factor to at most
  MAX_SIDE (a fixed function of x_hat: the bound is on I(t; pooled x_hat) ≤ I(t; x_hat)).
- optimiser: Adam with the fused kernel where torch has one for the device, else foreach.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

import torch

from vmieval.estimators.config import MIConfig
from vmieval.estimators.decoder.qnet import front_end

MAX_SIDE = 32  # pixels a side of Q's input under the "auto" front end


def native_bf16(device: torch.device) -> bool:
    """True where bfloat16 matmuls run on native hardware (CUDA bf16, or oneDNN's CPU bf16 support)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def front_pool(shape: tuple[int, ...], front: str) -> int:
    """The average-pooling factor in front of Q for images [C, H, W]: 1 (none) or ceil(max side / MAX_SIDE)."""
    side = max(shape[-2:])
    return 1 if front == "full" or side <= MAX_SIDE else math.ceil(side / MAX_SIDE)


@dataclass(frozen=True)
class FitPolicy:
    """How Q is fitted here: `precision` bf16 | fp32, the front end's pooling factor, the optimiser kind."""

    precision: str
    pool: int
    optimiser: str

    def front(self, x: torch.Tensor) -> torch.Tensor:
        """Images [B, C, H, W] as Q's front end reads them: through `qnet.front_end(pool)`, the module in front
        of QNetwork, so pairs pooled as they are decoded need a Q without a front (`on_pooled`)."""
        return front_end(self.pool)(x)

    def on_pooled(self) -> FitPolicy:
        """The policy that builds Q for pairs already through `front` (no pooling of its own); the rows still
        record this policy's front end."""
        return replace(self, pool=1)

    def adam(self, params: Iterable[torch.nn.Parameter], lr: float) -> torch.optim.Adam:
        return torch.optim.Adam(params, lr=lr, fused=self.optimiser == "adam-fused" or None)

    def params(self) -> dict[str, str | int | float]:
        """What a row records about it."""
        front = "full" if self.pool == 1 else f"avgpool{self.pool}"
        return {"precision": self.precision, "front": front, "optimiser": self.optimiser}


def resolve_policy(config: MIConfig, shape: tuple[int, ...], device: torch.device) -> FitPolicy:
    """The policy for images of `shape` [C, H, W] fitted on `device` under `config`."""
    bf16 = config.precision == "bf16" or (config.precision == "auto" and native_bf16(device))
    fused = device.type in ("cpu", "cuda")
    return FitPolicy("bf16" if bf16 else "fp32", front_pool(shape, config.q_front), "adam-fused" if fused else "adam")

"""Which torch device a command evaluates on: `auto`, `cpu` or `cuda` (`cuda:N`), chosen once.

The model (encoder, decoder) and the post-hoc Q network run on the chosen device; posteriors come
back to the CPU after encoding (float32, one batch at a time), and every estimator that reduces
over images runs there in float64, chunked. So CPU and GPU runs differ only by the float32
arithmetic of the networks, well inside the reported standard errors (tests/test_device.py).
`auto` picks CUDA when torch sees a device, else the CPU; asking for CUDA where there is none is a
UsageError (one line, exit 2), never a silent fallback.
"""

from __future__ import annotations

import torch

from vmieval.errors import UsageError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """`auto` (or None) -> cuda if available else cpu; `cpu`, `cuda`, `cuda:N` checked against this machine."""
    if isinstance(name, torch.device):
        name = str(name)
    text = (name or "auto").strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UsageError(f"--device {text}: no CUDA device is available here (use --device cpu or auto)")
        device = torch.device(text)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(f"--device {text}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return device
    raise UsageError(f"unknown device {name!r}; use auto, cpu or cuda")

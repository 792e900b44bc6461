"""Synthetic MNIST-style IDX splits for the data tests, and a default search that cannot find the
user's real data (environment variable, home cache, the Debian Fashion-MNIST package)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from vmieval.data import idx


def idx_bytes(array: np.ndarray) -> bytes:
    """A valid unsigned-byte IDX encoding of `array`."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write(path: Path, payload: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)
    return path


def write_split(
    folder: Path, split: str = "test", n: int = 6, gz: bool = True, side: int = 28
) -> tuple[np.ndarray, np.ndarray]:
    """Write a split whose image i is filled with the value 10 * i (mod 256) and whose label is i % 10."""
    prefix = "t10k" if split == "test" else "train"
    ext = ".gz" if gz else ""
    images = np.stack([np.full((side, side), (10 * i) % 256, dtype=np.uint8) for i in range(n)])
    labels = (np.arange(n) % 10).astype(np.uint8)
    write(folder / f"{prefix}-images-idx3-ubyte{ext}", idx_bytes(images))
    write(folder / f"{prefix}-labels-idx1-ubyte{ext}", idx_bytes(labels))
    return images, labels


def isolate_search(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the user's environment, cache and the Debian package out of the default search."""
    monkeypatch.delenv(idx.ENV_VAR, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(idx, "DEBIAN_FASHION_DIR", tmp_path / "debian")

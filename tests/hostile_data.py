"""Builders of hostile data files: each writes a few KB (a sparse file or a well-compressed member at
most) into a folder and returns what `--data` should name. Shared by tests/test_hostile_data.py and
benchmarks/bench_hostile_memory.py, which measures the peak memory of each case.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

Builder = Callable[[Path], str]


def npz(path: Path, **arrays: np.ndarray) -> str:
    np.savez(path, **arrays)
    return str(path)


def images(n: int = 8, dtype: str = "u1") -> np.ndarray:
    return (np.arange(n * 28 * 28) % 200).astype(dtype).reshape(n, 28, 28)


def npy_header(shape: tuple[int, ...], descr: str = "|u1") -> bytes:
    """A version-1.0 `.npy` header for `shape` (any numbers, even negative ones)."""
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    text += " " * (63 - (len(text) + 10) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode()


def raw_npy(path: Path, shape: tuple[int, ...], body: bytes = b"", sparse: int = 0) -> str:
    """A `.npy` with any header; `sparse` extends the file with a hole of that many bytes (0 on disk)."""
    with open(path, "wb") as fh:
        fh.write(npy_header(shape) + body)
        if sparse:
            fh.truncate(fh.tell() + sparse)
    return str(path)


def zeros_member_npz(path: Path, rows: int, side: int = 8) -> str:
    """An `.npz` whose `images` member declares `rows` zero rows, deflated as it is streamed (tiny file)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("images.npy", "w", force_zip64=True) as fh:
        fh.write(npy_header((rows, side, side)))
        block = bytes(side * side * 4096)
        for _ in range(rows // 4096):
            fh.write(block)
        fh.write(bytes(side * side * (rows % 4096)))
    return str(path)


def patched_npz(path: Path, flag: int = 0, method: int | None = None) -> str:
    """An honest `.npz` whose `images` member then claims encryption (`flag`) or another compression method."""
    npz(path, images=images())
    data = bytearray(path.read_bytes())
    for sig, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        at = data.find(sig)
        while at >= 0:
            data[at + flag_at] |= flag
            if method is not None:
                data[at + method_at : at + method_at + 2] = struct.pack("<H", method)
            at = data.find(sig, at + 4)
    path.write_bytes(bytes(data))
    return str(path)


def many_members(path: Path, count: int) -> str:
    one = io.BytesIO()
    np.save(one, np.zeros(1, np.uint8))
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(count):
            zf.writestr(f"member_{i:05d}_with_a_long_name.npy", one.getvalue())
    return str(path)


def h5(path: Path, build: Callable[[h5py.File], None], key: str = "images") -> str:
    with h5py.File(path, "w") as f:
        build(f)
    return f"{path}:{key}"


def h5_external_storage(path: Path, target: str, n: int = 4) -> str:
    return h5(
        path, lambda f: f.create_dataset("images", shape=(n, 28, 28), dtype="u1", external=[(target, 0, n * 784)])
    )


def h5_virtual(path: Path, source: Path, make_source: bool = True) -> str:
    if make_source:
        with h5py.File(source, "w") as f:
            f["images"] = images()
    layout = h5py.VirtualLayout(shape=(8, 28, 28), dtype="u1")
    layout[:] = h5py.VirtualSource(str(source), "images", shape=(8, 28, 28))
    return h5(path, lambda f: f.create_virtual_dataset("images", layout, fillvalue=0))


def h5_external_link(path: Path, other: Path) -> str:
    with h5py.File(other, "w") as f:
        f["images"] = images()

    def build(f: h5py.File) -> None:
        f["images"] = h5py.ExternalLink(str(other), "/images")

    return h5(path, build)


def png_bytes(pixels: np.ndarray, mode: str | None = None, **save: object) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels, mode=mode).save(out, format="PNG", **save)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A 1x1 PNG whose IHDR (CRC fixed) claims `width` x `height`: nothing to decode, a lie to refuse."""
    data = bytearray(png_bytes(np.zeros((1, 1), np.uint8)))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17]))
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


def class_folder(root: Path, files: dict[str, bytes]) -> str:
    """`root/<class>/<file>` for each `class/file` key."""
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return str(root)


def fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def tiff_bytes(pixels: np.ndarray, mode: str) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels, mode=mode).save(out, format="TIFF")
    return out.getvalue()

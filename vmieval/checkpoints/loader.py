"""Format sniffing and dispatch. Every failure is a CheckpointError with one line."""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from vmieval.checkpoints.limits import check_layouts, check_legacy_checkpoint, check_zip_checkpoint
from vmieval.checkpoints.native import is_native, load_native, parse_metadata
from vmieval.choices import CHECKPOINT_FORMATS
from vmieval.errors import CheckpointError, UsageError, first_line
from vmieval.frozen import FrozenVAE

FORMATS = CHECKPOINT_FORMATS  # defined torch-free, for the CLI


def _check_file(path: Path) -> None:
    try:
        if not path.exists():
            raise CheckpointError(f"{path}: no such file")
        if path.is_dir():  # a pythae model folder is claimed before this check (`pythae_folder`)
            raise UsageError(f"{path}: is a directory, expected a checkpoint file or a pythae model folder")
        size = path.stat().st_size
    except OSError as exc:  # a name too long, a loop of links, a permission denied on the way
        raise CheckpointError(f"{str(path)[:200]}: cannot read ({exc.strerror or exc})") from None
    if size == 0:
        raise CheckpointError(f"{path}: file is empty (an interrupted copy or download?); copy it again")


# torch.save's legacy (non-zip) format begins with a pickled magic number: protocol 2, LONG1 of 10 bytes.
_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
_UNSUPPORTED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def _check_container(path: Path) -> None:
    """Refuse, from the first bytes and the zip directory, files torch.save cannot have written, then
    bound what the rest may cost (`bounds`: declared sizes, pickle globals, storage sizes).

    This runs before `torch.load` so that text, random bytes, plain pickles and truncated archives get a
    message naming what they are, instead of whatever the unpickler trips over first.
    """
    with open(path, "rb") as fh:
        head = fh.read(len(_LEGACY_MAGIC))
    if head.startswith(b"PK"):
        if not zipfile.is_zipfile(path):
            raise CheckpointError(f"{path}: truncated or corrupt zip archive (no central directory); copy it again")
        with zipfile.ZipFile(path) as zf:
            if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in zf.namelist()):
                raise CheckpointError(
                    f"{path}: a zip archive but neither a PyTorch checkpoint nor a `vmieval export` archive"
                )
        check_zip_checkpoint(path)
        return
    if head == _LEGACY_MAGIC:
        check_legacy_checkpoint(path)
        return
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        raise CheckpointError(
            f"{path}: a plain Python pickle, not a torch.save checkpoint; vmieval never unpickles arbitrary "
            f"objects: save a state dict with torch.save, or use `vmieval export`"
        )
    if _is_safetensors(path):
        raise CheckpointError(
            f"{path}: a safetensors file: tensors only, without the architecture or latent spec vmieval needs "
            f"to build the model; load it into your own module and run `vmieval export`, or pass the pythae or "
            f"vmieval checkpoint it came from"
        )
    try:
        with open(path, encoding="utf-8") as fh:
            fh.read(1 << 16)
        what = "a text file"
    except UnicodeDecodeError:
        what = "unrecognised bytes"
    raise CheckpointError(
        f"{path}: {what}, not a PyTorch checkpoint; expected a .pt file from torch.save or an archive "
        f"from `vmieval export`"
    )


def _is_safetensors(path: Path) -> bool:
    """The safetensors layout: an 8-byte little-endian header length, then that many bytes of JSON."""
    with open(path, "rb") as fh:
        head = fh.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 8 + int.from_bytes(head[:8], "little") <= path.stat().st_size


def read_payload(path: str | Path) -> Any:
    """`torch.load(weights_only=True)` with every failure mode turned into one line."""
    path = Path(path)
    _check_file(path)
    _check_container(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. pickle-protocol notices: one line on stderr, not three
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        first = first_line(exc)
        if "weights only" in text.lower() or "weights_only" in text.lower():
            found = _UNSUPPORTED_GLOBAL.search(text)
            culprit = f" ({found.group(1)})" if found else ""
            raise CheckpointError(
                f"{path}: holds Python objects other than tensors{culprit}, which vmieval never unpickles; "
                f"save a state dict, or use `vmieval export`"
            ) from None
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({first[:200]})") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError, AttributeError, TypeError,
            IndexError, OverflowError, MemoryError) as exc:  # fmt: skip
        first = first_line(exc)
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint (truncated or corrupt: {first[:200]})"
        ) from None
    check_layouts(payload, str(path))
    return payload


def sniff_format(path: str | Path) -> str:
    """'exported' for a zip with vmieval.json; otherwise decided after a weights-only read."""
    path = Path(path)
    _check_file(path)
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                if any(n == "vmieval.json" or n.endswith("/vmieval.json") for n in zf.namelist()):
                    return "exported"
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            pass
    return "torch"


def load_checkpoint(
    path: str | Path,
    format: str = "auto",
    trust: bool = False,
    device: str = "cpu",
    spec_file: str | Path | None = None,
) -> FrozenVAE:
    """Load any supported checkpoint as a FrozenVAE (see the tiers in README, "Checkpoints"), its
    networks on `device` (`auto`, `cpu`, `cuda`: `vmieval.devices.resolve_device`)."""
    from vmieval.devices import resolve_device

    device = str(resolve_device(device))
    path = Path(path)
    if format not in FORMATS:
        raise CheckpointError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    from vmieval.checkpoints.pythae import load_pythae, pythae_folder

    if (folder := pythae_folder(path, format)) is not None:
        return load_pythae(folder, trust=trust, device=device)
    kind = sniff_format(path)
    if kind == "exported" or format == "exported":
        from vmieval.checkpoints.exported import load_exported

        return load_exported(path, trust=trust, device=device)
    payload = read_payload(path)
    if is_native(payload):
        if format not in ("auto", "native"):
            raise CheckpointError(f"{path}: is a vmieval native checkpoint, not {format!r}")
        return load_native(payload, path, device=device)
    if format == "native":
        raise CheckpointError(f"{path}: not a vmieval native checkpoint")
    from vmieval.checkpoints.adapters import load_adapter

    return load_adapter(payload, path, format=format, device=device, spec_file=spec_file)


def describe_checkpoint(path: str | Path, format: str = "auto") -> dict[str, Any]:
    """What a file is, read without building any model or running any program (`vmieval inspect`);
    `format` names it as `load_checkpoint`'s does (auto: detect)."""
    path = Path(path)
    if format not in FORMATS:
        raise CheckpointError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    from vmieval.checkpoints.pythae import describe_pythae, pythae_folder

    if (folder := pythae_folder(path, format)) is not None:
        return describe_pythae(folder)
    if sniff_format(path) == "exported" or format == "exported":
        from vmieval.checkpoints.exported import read_exported_metadata

        return {"format": "exported", "metadata": read_exported_metadata(path)}
    payload = read_payload(path)
    if is_native(payload):
        if format not in ("auto", "native"):
            raise CheckpointError(f"{path}: is a vmieval native checkpoint, not {format!r}")
        meta = parse_metadata(payload, str(path))
        state = payload.get("state_dict")
        if not isinstance(state, dict):
            raise CheckpointError(f"{path}: native checkpoint has no state dict")
        n_params = sum(int(v.numel()) for v in state.values() if isinstance(v, torch.Tensor))
        return {"format": "native", "metadata": meta, "tensors": len(state), "parameters": n_params}
    if format == "native":
        raise CheckpointError(f"{path}: not a vmieval native checkpoint")
    from vmieval.checkpoints.adapters import describe_adapter

    return describe_adapter(payload, path, format)

"""Bound what a checkpoint can cost before anything in it is trusted.

`torch.load(weights_only=True)` runs no code from a file, but it will still allocate whatever the file
asks for: a deflated zip member that inflates to gigabytes, a pickle that calls `bytearray(3e9)` (an
allowed global), a 40 KB tensor that is a stride-0 view of 30000 x 30000 floats that the first
`isfinite` materialises. So, before `torch.load`:

1. the zip directory is read with `zipfile` (declared sizes only, nothing inflated): tensor storages
   must be stored uncompressed, and compressed members (at most the pickle) are capped;
2. the pickle is scanned opcode by opcode with `pickletools.genops` (never unpickled): every global it
   names must be one vmieval needs (dicts, tensors, parameters, storages of real dtypes), and every
   storage it declares (`numel` x element size) must match the bytes the file actually holds;

and after it, before any tensor is used, every tensor must own its bytes: no stride-0 (expanded) or
overlapping view, and all tensors together no larger than their storages. Loading a file therefore
costs at most about its own size, whatever it claims.
"""

from __future__ import annotations

import io
import pickletools
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vmieval.errors import CheckpointError, first_line

MAX_PICKLE_BYTES = 32 << 20  # a state dict's pickle is ~100 bytes per tensor plus the metadata string
MAX_DEPTH = 32  # nesting of dicts/lists in a payload (a state dict is 1-3 levels deep)
LEGACY_PICKLES = 5  # magic number, protocol, sys info, the object, the storage keys

ELEMENT_SIZE = {
    f"{kind}Storage": size
    for kind, size in (
        ("Float", 4), ("Double", 8), ("Half", 2), ("BFloat16", 2), ("Long", 8),
        ("Int", 4), ("Short", 2), ("Char", 1), ("Byte", 1), ("Bool", 1),
    )
}  # fmt: skip
ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"),
    ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
} | {("torch", name) for name in ELEMENT_SIZE}
_REFUSED_KINDS = {
    "_rebuild_sparse_tensor": "sparse tensors",
    "_rebuild_sparse_csr_tensor": "sparse tensors",
    "_get_layout": "sparse tensors",
    "_rebuild_qtensor": "quantized tensors",
    "ComplexFloatStorage": "complex tensors",
    "ComplexDoubleStorage": "complex tensors",
}


@dataclass(frozen=True)
class Global:
    module: str
    name: str


class _Unknown:
    """A stack value the scan does not track (the result of a call, a list, a dict, ...)."""


UNKNOWN = _Unknown()
_MARK = object()
_STRINGS = {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"}
_INTS = {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"}
_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}
_GETS = {"GET", "BINGET", "LONG_BINGET"}


def _refuse_global(module: str, name: str, where: str) -> CheckpointError:
    kind = _REFUSED_KINDS.get(name)
    if kind is not None:
        return CheckpointError(f"{where}: holds {kind} ({module}.{name}), which are not model weights vmieval loads")
    return CheckpointError(
        f"{where}: holds Python objects other than tensors ({module}.{name}), which vmieval never unpickles; "
        f"save a state dict, or use `vmieval export`"
    )


def _check_global(module: Any, name: Any, where: str) -> Global:
    if not (isinstance(module, str) and isinstance(name, str)):
        raise CheckpointError(f"{where}: the pickle names a global it builds at run time; refused")
    if (module, name) not in ALLOWED_GLOBALS:
        raise _refuse_global(module, name, where)
    return Global(module, name)


def _pop_to_mark(stack: list[Any], where: str) -> list[Any]:
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] is _MARK:
            items = stack[i + 1 :]
            del stack[i:]
            return items
    raise CheckpointError(f"{where}: malformed pickle (no mark); the file is corrupt")


def _pop(stack: list[Any], n: int, where: str) -> list[Any]:
    if n > len(stack) or any(v is _MARK for v in stack[len(stack) - n :]):
        raise CheckpointError(f"{where}: malformed pickle (stack underflow); the file is corrupt")
    items = stack[len(stack) - n :] if n else []
    del stack[len(stack) - n :]
    return items


def scan_pickle(stream: io.BufferedIOBase, where: str) -> list[tuple[Any, ...]]:
    """Check one pickle's globals without unpickling it; return its persistent ids (storage records).

    A small stack machine follows the opcodes' declared stack effects (`pickletools`), tracking only
    literal strings, ints, tuples, memo entries and globals: enough to resolve `STACK_GLOBAL` and the
    `('storage', type, key, location, numel)` tuples torch writes, nothing that could run code.
    """
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    pids: list[tuple[Any, ...]] = []
    try:
        for op, arg, _pos in pickletools.genops(stream):
            name = op.name
            if name in _STRINGS or name in _INTS:
                stack.append(arg)
            elif name in ("NEWTRUE", "NEWFALSE", "NONE"):
                stack.append({"NEWTRUE": True, "NEWFALSE": False}.get(name))
            elif name in _PUTS or name == "MEMOIZE":
                if not stack or stack[-1] is _MARK:
                    raise CheckpointError(f"{where}: malformed pickle (memo of nothing); the file is corrupt")
                memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1]
            elif name in _GETS:
                if arg not in memo:
                    raise CheckpointError(f"{where}: malformed pickle (unknown memo key); the file is corrupt")
                stack.append(memo[arg])
            elif name == "GLOBAL" or name == "INST":
                module, _, attr = str(arg).partition(" ")
                glob = _check_global(module, attr, where)
                if name == "INST":
                    _pop_to_mark(stack, where)
                    glob = UNKNOWN  # type: ignore[assignment]
                stack.append(glob)
            elif name == "STACK_GLOBAL":
                module, attr = _pop(stack, 2, where)
                stack.append(_check_global(module, attr, where))
            elif name in ("EXT1", "EXT2", "EXT4"):
                raise CheckpointError(f"{where}: the pickle uses the copyreg extension registry; refused")
            elif name in ("TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "EMPTY_TUPLE"):
                n = {"TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3, "EMPTY_TUPLE": 0}.get(name)
                stack.append(tuple(_pop_to_mark(stack, where) if n is None else _pop(stack, n, where)))
            elif name == "PERSID":
                pids.append((arg,))
                stack.append(UNKNOWN)
            elif name == "BINPERSID":
                (pid,) = _pop(stack, 1, where)
                pids.append(pid if isinstance(pid, tuple) else (pid,))
                stack.append(UNKNOWN)
            elif name == "DUP":
                stack.append(_pop(stack, 1, where)[0])
                stack.append(stack[-1])
            elif name == "MARK":
                stack.append(_MARK)
            else:
                before = op.stack_before
                if pickletools.markobject in before:
                    _pop_to_mark(stack, where)
                    _pop(stack, before.index(pickletools.markobject), where)
                else:
                    _pop(stack, len(before), where)
                stack.extend(UNKNOWN for _ in op.stack_after)
    except CheckpointError:
        raise
    except (ValueError, TypeError, OverflowError, EOFError, MemoryError) as exc:
        first = first_line(exc)
        raise CheckpointError(f"{where}: not a readable PyTorch checkpoint (truncated or corrupt: {first})") from None
    return pids


def declared_storages(pids: list[tuple[Any, ...]], where: str) -> dict[str, int]:
    """Storage key -> bytes, from torch's persistent ids ('storage', type, key, location, numel[, view])."""
    sizes: dict[str, int] = {}
    for pid in pids:
        if len(pid) < 5 or pid[0] != "storage" or not isinstance(pid[1], Global):
            raise CheckpointError(f"{where}: the pickle refers to an object that is not a tensor storage; refused")
        kind, key, numel = pid[1].name, pid[2], pid[4]
        if not isinstance(key, str) or not isinstance(numel, int) or isinstance(numel, bool) or numel < 0:
            raise CheckpointError(f"{where}: a tensor storage has a malformed key or size; the file is corrupt")
        nbytes = numel * ELEMENT_SIZE[kind]
        if sizes.setdefault(key, nbytes) != nbytes:
            raise CheckpointError(f"{where}: storage {key!r} is declared with two sizes; the file is corrupt")
    return sizes


def _pickle_member(zf: zipfile.ZipFile, where: str) -> tuple[str, zipfile.ZipInfo]:
    for info in zf.infolist():
        if info.filename == "data.pkl" or info.filename.endswith("/data.pkl"):
            return info.filename[: -len("data.pkl")], info
    raise CheckpointError(f"{where}: a zip archive but neither a PyTorch checkpoint nor a `vmieval export` archive")


def check_zip_checkpoint(path: Path) -> None:
    """Declared member sizes against the file, the pickle's globals, and each storage's size."""
    where = str(path)
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            prefix, pickle_info = _pickle_member(zf, where)
            inflated = sum(i.file_size for i in infos if i.compress_type != zipfile.ZIP_STORED)
            stored = sum(i.file_size for i in infos if i.compress_type == zipfile.ZIP_STORED)
            if pickle_info.file_size > MAX_PICKLE_BYTES or inflated > MAX_PICKLE_BYTES or stored > size:
                raise CheckpointError(
                    f"{where}: declares {inflated + stored:,} bytes of content in a {size:,}-byte file (a zip bomb?); "
                    f"a PyTorch checkpoint stores its tensors uncompressed"
                )
            pickled = zf.read(pickle_info)
            by_name = {i.filename: i for i in infos}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        first = first_line(exc)
        raise CheckpointError(f"{where}: not a readable PyTorch checkpoint (truncated or corrupt: {first})") from None
    sizes = declared_storages(scan_pickle(io.BytesIO(pickled), where), where)
    for key, nbytes in sizes.items():
        info = by_name.get(f"{prefix}data/{key}")
        if info is None:
            raise CheckpointError(f"{where}: tensor storage {key!r} is missing from the archive; the file is truncated")
        if info.compress_type != zipfile.ZIP_STORED:
            raise CheckpointError(
                f"{where}: tensor storage {key!r} is compressed; torch.save stores tensors uncompressed, so the "
                f"file was rewritten by another tool (or crafted)"
            )
        if info.file_size != nbytes:
            raise CheckpointError(
                f"{where}: tensor storage {key!r} holds {info.file_size:,} bytes but its tensors declare {nbytes:,}; "
                f"the file is corrupt or crafted"
            )


def check_legacy_checkpoint(path: Path) -> None:
    """The legacy (pre-zip) format: five pickles, then raw storages; the pickles are scanned in memory."""
    where = str(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = io.BytesIO(fh.read(MAX_PICKLE_BYTES))
    pids: list[tuple[Any, ...]] = []
    for _ in range(LEGACY_PICKLES):
        pids += scan_pickle(head, where)
    sizes = declared_storages([p[:5] for p in pids], where)
    if sum(sizes.values()) > size:
        raise CheckpointError(
            f"{where}: its tensors declare {sum(sizes.values()):,} bytes but the file has {size:,}; "
            f"the file is truncated or crafted"
        )


def iter_tensors(payload: Any, where: str, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor in a loaded payload (nested dicts, lists, tuples), with a dotted name."""
    if depth > MAX_DEPTH:
        raise CheckpointError(f"{where}: nested more than {MAX_DEPTH} levels deep; not a checkpoint")
    if isinstance(payload, torch.Tensor):
        yield prefix or "<root>", payload
    elif isinstance(payload, dict):
        for key, value in payload.items():
            yield from iter_tensors(value, where, f"{prefix}.{key}" if prefix else str(key), depth + 1)
    elif isinstance(payload, list | tuple):
        for i, value in enumerate(payload):
            yield from iter_tensors(value, where, f"{prefix}.{i}" if prefix else str(i), depth + 1)


def _owns_its_bytes(t: torch.Tensor) -> bool:
    """No stride-0 or overlapping dims: each dim steps past everything the smaller-stride dims span."""
    dims = sorted((st, sz) for st, sz in zip(t.stride(), t.shape, strict=True) if sz > 1)
    extent = 1
    for st, sz in dims:
        if st < extent:
            return False
        extent = st * (sz - 1) + extent
    return True


def check_layouts(payload: Any, where: str) -> None:
    """Every tensor is dense, real, owns its bytes, and all of them fit in the storages the file holds."""
    needed = 0
    storages: dict[int, int] = {}
    for name, t in iter_tensors(payload, where):
        if t.layout != torch.strided or t.is_quantized:
            raise CheckpointError(f"{where}: tensor {name!r} has layout {t.layout}; vmieval loads dense tensors only")
        if t.is_complex():
            raise CheckpointError(f"{where}: tensor {name!r} is complex ({t.dtype}); model weights are real")
        storage = t.untyped_storage()
        nbytes = t.numel() * t.element_size()
        if not _owns_its_bytes(t) or t.storage_offset() * t.element_size() + nbytes > storage.nbytes():
            raise CheckpointError(
                f"{where}: tensor {name!r} of shape {tuple(t.shape)} is an expanded or overlapping view of "
                f"{storage.nbytes():,} bytes; a saved weight must own its bytes"
            )
        needed += nbytes
        storages[storage.data_ptr()] = storage.nbytes()
    if needed > sum(storages.values()):
        raise CheckpointError(
            f"{where}: its tensors span {needed:,} bytes but share {sum(storages.values()):,} bytes of storage; "
            f"a saved state dict does not alias its weights"
        )

"""Builders of hostile checkpoints: small files that ask for a lot of memory, or lie about themselves.

Shared by the hostile tests and `benchmarks/bench_hostile_memory.py`. Every builder writes one file
(a few KB to a few MB) into a folder and returns its path; none of them needs more memory to build
than the file's own size, whatever the file would cost to load naively.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch

from vmieval.architectures import build_architecture
from vmieval.checkpoints import save_native
from vmieval.spec import ModelSpec, categorical, gaussian

TINY_SPEC = ModelSpec((1, 28, 28), (gaussian("z", 4), categorical("c", 10)))
TINY_CONFIG = {"hidden": [32]}


def tiny_native(path: Path) -> Path:
    """An honest, untrained MLP checkpoint of a small joint spec."""
    torch.manual_seed(0)
    module = build_architecture("mlp", TINY_CONFIG, TINY_SPEC)
    return save_native(path, module, "mlp", TINY_CONFIG, TINY_SPEC, {"seed": 0, "dataset": "mnist-sample"})


def load_raw(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def rewrite(path: Path, edit: Callable[[dict], None], out: Path | None = None) -> Path:
    """Load an honest native file, change it, save it (without a tensor hash unless `edit` keeps one)."""
    payload = load_raw(path)
    edit(payload)
    torch.save(payload, out or path)
    return out or path


def edit_meta(fn: Callable[[dict], None]) -> Callable[[dict], None]:
    def edit(payload: dict) -> None:
        meta = json.loads(payload["metadata"])
        fn(meta)
        payload["metadata"] = json.dumps(meta)

    return edit


def stride0(folder: Path, side: int = 30000) -> Path:
    """A native file whose extra tensor is a stride-0 view: side x side floats over `side` stored floats."""
    honest = tiny_native(folder / "honest-for-stride0.pt")
    return rewrite(honest, lambda p: p["state_dict"].update(huge=torch.zeros(side).expand(side, side)),
                   folder / "stride0.pt")  # fmt: skip


def stride0_jointvae(folder: Path, side: int = 30000) -> Path:
    """A JointVAE-looking state dict (by its key names) whose first conv is an expanded view."""
    state = {
        "img_to_features.0.weight": torch.zeros(side).expand(side, side),
        "features_to_hidden.0.weight": torch.zeros(4, 4),
        "latent_to_features.0.weight": torch.zeros(4, 4),
    }
    path = folder / "stride0_jointvae.pt"
    torch.save(state, path)
    return path


def spec_blocks(folder: Path, blocks: int = 2000, size: int = 4096) -> Path:
    """Honest tiny weights, but metadata declaring `blocks` Gaussian blocks of `size` dims (billions of
    parameters if the architecture were built from the metadata before the weights were checked)."""
    honest = tiny_native(folder / "honest-for-spec.pt")

    def widen(meta: dict) -> None:
        meta["spec"]["blocks"] = [{"kind": "gaussian", "name": f"z{i}", "size": size} for i in range(blocks)]

    return rewrite(honest, edit_meta(widen), folder / f"spec{blocks}.pt")


def copy_zip(src: Path, dst: Path, replace: Callable[[str, bytes], tuple[bytes, int] | None]) -> Path:
    """Copy a zip member by member; `replace(name, data)` may return (new data, compress type), or
    (b"", -1) to drop the member."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            new = replace(info.filename, data)
            body, kind = new if new is not None else (data, info.compress_type)
            if kind >= 0:
                zout.writestr(info.filename, body, compress_type=kind)
    return dst


def zip_bomb(folder: Path, inflated: int = 1 << 30) -> Path:
    """A torch zip whose data.pkl is the honest pickle followed by `inflated` deflated zero bytes."""
    honest = tiny_native(folder / "honest-for-bomb.pt")
    path = folder / "zipbomb.pt"
    with zipfile.ZipFile(honest) as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if not info.filename.endswith("data.pkl"):
                zout.writestr(info.filename, data, compress_type=zipfile.ZIP_STORED)
                continue
            zinfo = zipfile.ZipInfo(info.filename)
            zinfo.compress_type = zipfile.ZIP_DEFLATED
            with zout.open(zinfo, "w", force_zip64=True) as fh:
                fh.write(data)
                chunk = bytes(1 << 20)
                for _ in range(inflated // len(chunk)):
                    fh.write(chunk)
    return path


def deflated_zeros_member(folder: Path, inflated: int = 1 << 30) -> Path:
    """Same, but the zeros are an extra deflated member next to an honest pickle."""
    honest = tiny_native(folder / "honest-for-member.pt")
    path = folder / "zipmember.pt"
    with zipfile.ZipFile(honest) as zin, zipfile.ZipFile(path, "w") as zout:
        prefix = zin.namelist()[0].split("/")[0]
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info), compress_type=zipfile.ZIP_STORED)
        zinfo = zipfile.ZipInfo(f"{prefix}/data/extra")
        zinfo.compress_type = zipfile.ZIP_DEFLATED
        with zout.open(zinfo, "w", force_zip64=True) as fh:
            chunk = bytes(1 << 20)
            for _ in range(inflated // len(chunk)):
                fh.write(chunk)
    return path


def torch_zip_with_pickle(path: Path, pickled: bytes) -> Path:
    """A zip laid out like torch.save's, holding an arbitrary pickle as data.pkl."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickled)
        zf.writestr("archive/byteorder", b"little")
        zf.writestr("archive/version", b"3\n")
        zf.writestr("archive/.data/serialization_id", b"0" * 40)
    return path


def bytearray_gadget(folder: Path, nbytes: int = 3 * 10**9) -> Path:
    """40 bytes of pickle calling bytearray(nbytes): an allowed global in torch's weights-only list."""
    pickled = b"\x80\x02cbuiltins\nbytearray\n\x8a\x05" + nbytes.to_bytes(5, "little") + b"\x85R."
    return torch_zip_with_pickle(folder / "bytearray.pt", pickled)


def stack_global(folder: Path) -> Path:
    """A protocol-4 pickle naming os.system through STACK_GLOBAL (strings on the stack, no GLOBAL op)."""
    pickled = b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x8c\x04true\x85R."
    return torch_zip_with_pickle(folder / "stack_global.pt", pickled)


def memo_global(folder: Path) -> Path:
    """STACK_GLOBAL whose strings come from the memo (BINGET), the way a scanner that reads only the
    preceding opcodes would miss."""
    pickled = b"\x80\x04\x8c\x08builtins\x94\x8c\x04eval\x94h\x00h\x01\x93\x8c\x011\x85R."
    return torch_zip_with_pickle(folder / "memo_global.pt", pickled)


def ext_opcode(folder: Path) -> Path:
    return torch_zip_with_pickle(folder / "ext.pt", b"\x80\x02\x82\x01.")


def plain_bytes_pickle(folder: Path) -> Path:
    """bytes in a protocol-2 pickle go through `_codecs.encode`: a global vmieval never needs."""
    return torch_zip_with_pickle(folder / "codecs.pt", pickle.dumps({"w": b"abc"}, protocol=2))


def legacy_declares_more(folder: Path) -> Path:
    """Legacy (pre-zip) format whose storage declares far more elements than the file holds."""
    buffer = io.BytesIO()
    torch.save({"w": torch.ones(8)}, buffer, _use_new_zipfile_serialization=False)
    data = buffer.getvalue()
    # The storage's numel (8) is pickled as BININT1 8 after the location string 'cpu' (and its memo put).
    at = data.index(b"K\x08N", data.index(b"cpu"))
    data = data[:at] + b"J" + (10**9).to_bytes(4, "little") + data[at + 2 :]
    path = folder / "legacy_huge.pt"
    path.write_bytes(data)
    return path


HOSTILE_BUILDERS: dict[str, Callable[[Path], Path]] = {
    "stride0": stride0,
    "stride0_jointvae": stride0_jointvae,
    "spec2000": spec_blocks,
    "zip_bomb": zip_bomb,
    "zip_member_bomb": deflated_zeros_member,
    "bytearray": bytearray_gadget,
}

"""The exported tier: any user's VAE as two `torch.export` programs plus JSON metadata, in one zip.

Archive layout (written by `vmieval.export.export_model`):
    vmieval.json   {"format": "vmieval-exported", "schema_version", "spec", "programs", "architecture",
                    "metadata" (the user's), "vmieval_version", "torch_version"}
    encoder.pt2    `torch.export.save` of encoder(x [B, C, H, W]) -> [B, spec.param_width]
    decoder.pt2    `torch.export.save` of decoder(latent [B, spec.latent_width]) -> [B, C, H, W]
The batch dimension is dynamic. The programs are stored uncompressed, and `programs[name]` records
their member name, size and sha256.

Why trust is needed: deserialising a program rebuilds a graph of operators, constants and custom-op
references from the file, and `torch.export.load` falls back to full (unrestricted) unpickling of
weights and constants where its safe path fails: code from the file can run. So the metadata is
read with `zipfile` and `json` only (inspect, sniffing and validating the spec need nothing more),
and the programs are deserialised only when the caller passes `trust=True` (`--trust` on the
command line).
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from vmieval.checkpoints.metadata import check_version, parse_json
from vmieval.checkpoints.validate import check_forward, sha256_of
from vmieval.errors import CheckpointError, TrustRequired, first_line
from vmieval.frozen import CheckpointInfo, FrozenVAE
from vmieval.spec import ModelSpec

FORMAT = "vmieval-exported"
SCHEMA_VERSION = 1
METADATA_MEMBER = "vmieval.json"
PROGRAMS = ("encoder", "decoder")
PROGRAM_MEMBERS = {"encoder": "encoder.pt2", "decoder": "decoder.pt2"}
MAX_METADATA_BYTES = 4 << 20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _open_zip(path: Path) -> zipfile.ZipFile:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CheckpointError(f"{path}: not a vmieval exported archive (not a readable zip: {exc})") from None


def _member(zf: zipfile.ZipFile, name: str, where: str) -> zipfile.ZipInfo:
    try:
        return zf.getinfo(name)
    except KeyError:
        raise CheckpointError(f"{where}: exported archive has no {name!r} member; re-export the model") from None


def _parse_metadata(zf: zipfile.ZipFile, where: str) -> dict[str, Any]:
    info = _member(zf, METADATA_MEMBER, where)
    if info.file_size > MAX_METADATA_BYTES:
        raise CheckpointError(f"{where}: {METADATA_MEMBER} is {info.file_size} bytes, too large to be metadata")
    try:
        text = zf.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise CheckpointError(f"{where}: cannot read {METADATA_MEMBER} (truncated or corrupt: {exc})") from None
    meta = parse_json(text, where, METADATA_MEMBER, names=False)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{where}: {METADATA_MEMBER} does not describe a {FORMAT} archive")
    check_version(meta.get("schema_version"), SCHEMA_VERSION, where)
    if not isinstance(meta.get("training", {}), dict):
        raise CheckpointError(f"{where}: {METADATA_MEMBER} has a training entry that is not an object")
    try:
        ModelSpec.from_dict(meta.get("spec"))  # validates without building anything
    except CheckpointError as exc:
        raise CheckpointError(f"{where}: {exc}") from None
    programs = meta.get("programs")
    if not isinstance(programs, dict):
        raise CheckpointError(f"{where}: {METADATA_MEMBER} lists no programs")
    for name in PROGRAMS:
        entry = programs.get(name)
        if not isinstance(entry, dict) or entry.get("member") != PROGRAM_MEMBERS[name]:
            raise CheckpointError(f"{where}: {METADATA_MEMBER} does not describe the {name} program")
        if not isinstance(entry.get("sha256"), str) or not _SHA256.match(entry["sha256"]):
            raise CheckpointError(f"{where}: the {name} program has no valid sha256 in {METADATA_MEMBER}")
        member = _member(zf, entry["member"], where)
        if member.compress_type != zipfile.ZIP_STORED or member.file_size != member.compress_size:
            raise CheckpointError(f"{where}: the {name} program is compressed; vmieval stores programs uncompressed")
    if not isinstance(meta.get("architecture"), dict):
        meta["architecture"] = {"name": "exported", "config": {}}
    return meta


def read_exported_metadata(path: str | Path) -> dict[str, Any]:
    """The validated `vmieval.json` of an archive, read with zipfile and json only (never executes)."""
    path = Path(path)
    with _open_zip(path) as zf:
        return _parse_metadata(zf, str(path))


def trust_message(path: str | Path) -> str:
    return (
        f"{path}: an exported model is a program, and building it can run code from the file; "
        f"pass --trust (trust=True) only if you trust where it came from (`vmieval inspect` reads its metadata safely)"
    )


def _read_program(zf: zipfile.ZipFile, name: str, entry: dict[str, Any], where: str, torch_version: str) -> Any:
    """Check the member's sha256 against the metadata, then deserialise it (trusted callers only)."""
    try:
        blob = zf.read(_member(zf, entry["member"], where))
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CheckpointError(f"{where}: cannot read the {name} program (truncated or corrupt: {exc})") from None
    if hashlib.sha256(blob).hexdigest() != entry["sha256"]:
        raise CheckpointError(f"{where}: the {name} program does not match its sha256; the archive was altered")
    try:
        program = torch.export.load(io.BytesIO(blob))
    except Exception as exc:  # noqa: BLE001 - deserialisation fails in many ways; all mean "cannot load"
        raise CheckpointError(
            f"{where}: cannot load the {name} program (exported with torch {torch_version}, "
            f"this is torch {torch.__version__}): {first_line(exc)}"
        ) from None
    return program


def _in_chunks(program: Any, cap: int) -> Any:
    """`program` run on at most `cap` rows at a time (an archive exported with a batch-size cap)."""

    def run(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([program(part) for part in x.split(cap)]) if x.shape[0] > cap else program(x)

    return run


def load_exported(path: str | Path, trust: bool = False, device: str = "cpu") -> FrozenVAE:
    """Load an exported archive as a FrozenVAE; raises TrustRequired unless `trust` is True.

    The metadata is validated first (so a broken file says so even without trust), then the programs'
    hashes are checked, the programs built, and one forward pass compared with the spec.
    """
    path = Path(path)
    where = str(path)
    with _open_zip(path) as zf:
        meta = _parse_metadata(zf, where)
        if not trust:
            raise TrustRequired(trust_message(path))
        torch_version = str(meta.get("torch_version", "unknown"))
        programs = {n: _read_program(zf, n, meta["programs"][n], where, torch_version) for n in PROGRAMS}
    spec = ModelSpec.from_dict(meta["spec"])
    encode, decode = (programs[n].module().to(device).requires_grad_(False) for n in PROGRAMS)
    cap = meta.get("max_batch")
    if isinstance(cap, int) and not isinstance(cap, bool) and cap >= 2:  # exported with `--max-batch`
        encode, decode = _in_chunks(encode, cap), _in_chunks(decode, cap)
    try:
        check_forward(encode, decode, spec, where, device=device)
    except AssertionError as exc:  # an exported program's shape guards fail with AssertionError
        raise CheckpointError(f"{where}: model cannot run on its own spec ({first_line(exc)})") from None
    info = CheckpointInfo(where, FORMAT, sha256_of(path), str(meta["architecture"].get("name", "exported")), meta)
    return FrozenVAE(spec, encode, decode, info, device=device)

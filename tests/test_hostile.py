"""Hostile and broken input: every bad file, folder or path gets one line, the right exit code, no code run.

A corpus is built in tmp_path: files that are not checkpoints, truncated ones, pickles whose unpickling
would create a marker file, archives that lie about themselves, inconsistent weights and metadata, and
unusable data and output paths. Each goes through the CLI (one `error:` line on stderr, the documented
exit code, no traceback without --debug) or, where no command reads that far yet, the Python API.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result
from vmieval.cli.main import cli

from vmieval.checkpoints import load_checkpoint
from vmieval.data import load_images
from vmieval.errors import CheckpointError, DataError, TrustRequired, UsageError


class OpenMarker:
    """Unpickling calls open(marker, 'w'), creating the file: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (open, (self.marker, "w"))


class SystemMarker(OpenMarker):
    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def marker(tmp_path: Path):
    path = tmp_path / "MARKER"
    yield path
    assert not path.exists(), "code from a hostile file was executed"


def one_line_error(result: Result, code: int, *fragments: str) -> str:
    assert result.exit_code == code, (result.exit_code, result.stderr, result.stdout)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


# -- files that are not checkpoints at all -------------------------------------------------------


def _torch_bytes(obj: object, legacy: bool = False) -> bytes:
    import io

    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=not legacy)
    return buffer.getvalue()


def _corpus(marker: Path) -> dict[str, tuple[bytes, str]]:
    """name -> (file content, fragment the one-line error must contain)."""
    good = _torch_bytes({"w": torch.ones(64)})
    legacy = _torch_bytes({"w": torch.ones(64)}, legacy=True)
    evil = {"w": torch.ones(2), "payload": OpenMarker(marker)}
    return {
        "empty.pt": (b"", "empty"),
        "text.pt": (b"hello, this is not a model\n", "text file, not a PyTorch checkpoint"),
        "random.pt": (bytes(range(256)) * 16, "not a PyTorch checkpoint"),
        "truncated.pt": (good[: len(good) // 2], "truncated"),
        "truncated_legacy.pt": (legacy[: len(legacy) // 2], "truncated"),
        "plain_pickle.pkl": (pickle.dumps(OpenMarker(marker)), "plain Python pickle"),
        "plain_pickle_system.pkl": (pickle.dumps(SystemMarker(marker)), "plain Python pickle"),
        "evil_torch.pt": (_torch_bytes(evil), "other than tensors"),
        "evil_legacy.pt": (_torch_bytes(evil, legacy=True), "other than tensors"),
        "evil_system.pt": (_torch_bytes({"x": SystemMarker(marker)}), "other than tensors"),
        "foreign_state_dict.pt": (good, "without vmieval metadata"),
    }


@pytest.mark.parametrize("name", sorted(_corpus(Path("m"))))
def test_not_a_checkpoint(tmp_path: Path, marker: Path, name: str) -> None:
    content, fragment = _corpus(marker)[name]
    path = tmp_path / name
    path.write_bytes(content)
    one_line_error(invoke("inspect", str(path)), 3, fragment, name)
    with pytest.raises(CheckpointError, match=fragment):
        load_checkpoint(path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path, trust=True)  # trust never extends to unpickling


def test_missing_file_and_folder(tmp_path: Path) -> None:
    one_line_error(invoke("inspect", str(tmp_path / "nope.pt")), 3, "no such file")
    with pytest.raises(UsageError, match="directory"):  # exit 2, as on the command line (a pythae folder loads)
        load_checkpoint(tmp_path)


def test_debug_shows_the_exception(tmp_path: Path) -> None:
    (tmp_path / "t.pt").write_text("text")
    result = invoke("--debug", "inspect", str(tmp_path / "t.pt"))
    assert isinstance(result.exception, CheckpointError)


# -- exported archives that lie ---------------------------------------------------------------------

SPEC = {"observation_shape": [1, 4, 4], "blocks": [{"kind": "gaussian", "name": "z", "size": 2}]}


def _archive(path: Path, programs: dict[str, bytes], edit: Callable[[dict], None] = lambda m: None) -> Path:
    meta = {
        "format": "vmieval-exported",
        "schema_version": 1,
        "spec": json.loads(json.dumps(SPEC)),
        "programs": {
            name: {"member": f"{name}.pt2", "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}
            for name, blob in programs.items()
        },
    }
    edit(meta)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("vmieval.json", json.dumps(meta), compress_type=zipfile.ZIP_DEFLATED)
        for name, blob in programs.items():
            zf.writestr(f"{name}.pt2", blob, compress_type=zipfile.ZIP_STORED)
    return path


def test_exported_archive_with_evil_programs_needs_trust(tmp_path: Path, marker: Path) -> None:
    evil = pickle.dumps(OpenMarker(marker))
    path = _archive(tmp_path / "evil.pt2", {"encoder": evil, "decoder": evil})
    assert invoke("inspect", str(path)).exit_code == 0  # metadata only: nothing is deserialised
    with pytest.raises(TrustRequired):
        load_checkpoint(path)


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("bad_json", "not valid JSON"),
        ("not_ours", "does not describe"),
        ("newer", "newer than this vmieval"),
        ("bad_spec", "spec"),
        ("no_hash", "sha256"),
        ("missing_member", "no 'decoder.pt2' member"),
        ("compressed", "compressed"),
        ("huge_metadata", "too large"),
        ("truncated", "truncated"),
    ],
)
def test_exported_archive_lies(tmp_path: Path, case: str, fragment: str) -> None:
    blobs = {"encoder": b"\0" * 64, "decoder": b"\1" * 64}
    path = tmp_path / f"{case}.pt2"
    edits: dict[str, Callable[[dict], None]] = {
        "not_ours": lambda m: m.update(format="something-else"),
        "newer": lambda m: m.update(schema_version=2**31),
        "bad_spec": lambda m: m["spec"]["blocks"][0].update(size=-3),
        "no_hash": lambda m: m["programs"]["encoder"].pop("sha256"),
    }
    _archive(path, blobs, edits.get(case, lambda m: None))
    if case == "bad_json" or case == "huge_metadata":
        body = b"{not json" if case == "bad_json" else b" " * (5 << 20)
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("vmieval.json", body, compress_type=zipfile.ZIP_DEFLATED)
    elif case == "missing_member":
        with zipfile.ZipFile(path) as zin:
            meta = zin.read("vmieval.json")
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("vmieval.json", meta)
            zf.writestr("encoder.pt2", blobs["encoder"])
    elif case == "compressed":
        with zipfile.ZipFile(path) as zin:
            meta = zin.read("vmieval.json")
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("vmieval.json", meta)
            for name, blob in blobs.items():
                zf.writestr(f"{name}.pt2", blob, compress_type=zipfile.ZIP_DEFLATED)
    elif case == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) - 30])
    one_line_error(invoke("inspect", str(path)), 3, fragment)
    with pytest.raises(CheckpointError):
        load_checkpoint(path, trust=True)


# -- weights and metadata that disagree (native tier, through the Python API) ------------------------


def _rewrite(path: Path, edit: Callable[[dict], None]) -> Path:
    payload = torch.load(path, weights_only=True)
    edit(payload)
    torch.save(payload, path)
    return path


def _edit_meta(fn: Callable[[dict], None]) -> Callable[[dict], None]:
    def edit(payload: dict) -> None:
        meta = json.loads(payload["metadata"])
        fn(meta)
        payload["metadata"] = json.dumps(meta)

    return edit


def _poison(value: float) -> Callable[[dict], None]:
    def edit(payload: dict) -> None:
        first = next(iter(payload["state_dict"]))
        payload["state_dict"][first] = payload["state_dict"][first].clone().fill_(value)

    return edit


def _reshape(payload: dict) -> None:
    first = next(iter(payload["state_dict"]))
    payload["state_dict"][first] = torch.zeros(3, 3)


NATIVE_CASES: dict[str, tuple[Callable[[dict], None], str]] = {
    "wrong_shapes": (_reshape, "do not fit"),
    "nan_weights": (_poison(float("nan")), "NaN or Inf"),
    "inf_weights": (_poison(float("inf")), "NaN or Inf"),
    "config_contradicts_tensors": (_edit_meta(lambda m: m["architecture"].update(config={"hidden": [64]})), "fit"),
    "extra_latent_block": (
        _edit_meta(lambda m: m["spec"]["blocks"].append({"kind": "categorical", "name": "d", "size": 3})),
        "fit",
    ),
    "unknown_architecture": (_edit_meta(lambda m: m["architecture"].update(name="resnet9000")), "unknown"),
    "metadata_not_json": (lambda p: p.update(metadata="{oops"), "not valid JSON"),
}


@pytest.mark.parametrize("case", sorted(NATIVE_CASES))
def test_inconsistent_native_checkpoint(tiny_native: Path, case: str) -> None:
    edit, fragment = NATIVE_CASES[case]
    _rewrite(tiny_native, edit)
    with pytest.raises(CheckpointError, match=fragment) as caught:
        load_checkpoint(tiny_native)
    assert "\n" not in str(caught.value) and caught.value.exit_code == 3


# -- data and output paths -------------------------------------------------------------------------


def test_data_folder_without_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found") as caught:
        load_images("mnist", "test", data_dir=tmp_path)
    assert caught.value.exit_code == 5 and "--data-dir" in str(caught.value)


def test_images_of_the_wrong_size(tiny_native: Path) -> None:
    vae = load_checkpoint(tiny_native)
    images = load_images("mnist-sample", "test", image_size=32, limit=4).images
    with pytest.raises(DataError, match="--image-size 28"):
        vae.encode(images)


def test_output_under_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("I am a file")
    out = blocker / "model.pt2"
    one_line_error(invoke("export", "--module-file", "x.py:build", str(out)), 6, "does not exist")


def test_existing_output_without_force(tmp_path: Path) -> None:
    out = tmp_path / "model.pt2"
    out.write_text("previous")
    one_line_error(invoke("export", "--module-file", "x.py:build", str(out)), 6, "--force")
    assert out.read_text() == "previous"


def test_module_file_that_raises(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("raise RuntimeError('user code is broken')\n")
    out = tmp_path / "m.pt2"
    one_line_error(invoke("export", "--module-file", f"{tmp_path / 'bad.py'}:build", str(out)), 2, "broken")
    assert not out.exists()


# -- the same failures through `vmieval report` -----------------------------------------------------


def report(tmp_path: Path, checkpoint: Path, *extra: str) -> Result:
    out = tmp_path / "report-out"
    return invoke(
        "report", str(checkpoint), "--dataset", "mnist-sample", "--limit", "40", "--no-mi", "--out", str(out), *extra
    )


@pytest.mark.parametrize("name", ["text.pt", "truncated.pt", "evil_torch.pt", "plain_pickle_system.pkl"])
def test_report_refuses_bad_files(tmp_path: Path, marker: Path, name: str) -> None:
    content, fragment = _corpus(marker)[name]
    path = tmp_path / name
    path.write_bytes(content)
    one_line_error(report(tmp_path, path), 3, fragment)
    one_line_error(report(tmp_path, path, "--trust"), 3, fragment)


def test_report_refuses_exported_without_trust(tmp_path: Path, marker: Path) -> None:
    evil = pickle.dumps(OpenMarker(marker))
    path = _archive(tmp_path / "evil.pt2", {"encoder": evil, "decoder": evil})
    one_line_error(report(tmp_path, path), 4, "--trust")


def test_report_refuses_inconsistent_native(tiny_native: Path, tmp_path: Path) -> None:
    _rewrite(tiny_native, _poison(float("nan")))
    one_line_error(report(tmp_path, tiny_native), 3, "NaN")


def test_report_data_problems(tiny_native: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty-data"
    empty.mkdir()
    args = ["report", str(tiny_native), "--dataset", "mnist", "--data-dir", str(empty), "--out", str(tmp_path / "o")]
    one_line_error(invoke(*args), 5, "not found")
    one_line_error(report(tmp_path, tiny_native, "--image-size", "32"), 5, "--image-size 28")


def test_report_output_problems(tiny_native: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    args = ["report", str(tiny_native), "--dataset", "mnist-sample", "--no-mi", "--out", str(blocker / "sub")]
    one_line_error(invoke(*args), 6)
    out = tmp_path / "report-out"
    out.mkdir()
    (out / "report.h5").write_bytes(b"an earlier report")
    one_line_error(report(tmp_path, tiny_native), 6, "--force")
    assert (out / "report.h5").read_bytes() == b"an earlier report"

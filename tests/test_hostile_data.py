"""Hostile data, pythae folders and output paths: each case is its documented exit code and ONE line.

Every input is built in tmp_path (a few KB; sparse or well-compressed files stand for gigabytes) and
goes through `vmieval report` in-process. The classes (issue 19): arrays and HDF5 that used to end in
exit 70; declared sizes larger than the stored bytes; images larger than a batch; files that are not
regular (FIFOs, devices, /proc) and links that leave a folder or loop; HDF5 data stored outside the
file; pixels that cannot be read by their real range; pythae `model_config.json` of the wrong shape;
output paths; and user strings that carry terminal escapes. docs/data.md ("Bad input") lists the rules.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from hostile_data import (
    class_folder,
    fifo,
    h5,
    h5_external_link,
    h5_external_storage,
    h5_virtual,
    images,
    many_members,
    npz,
    patched_npz,
    png_bytes,
    png_claiming,
    raw_npy,
    tiff_bytes,
    zeros_member_npz,
)
from vmieval.cli.main import cli

ESC = "\x1b"
Data = Callable[[Path], str]


def _soft_loop(f: h5py.File) -> None:
    f["images"] = h5py.SoftLink("/other")
    f["other"] = h5py.SoftLink("/images")


def _many_keys(f: h5py.File) -> None:
    for i in range(3000):
        f.create_group(f"group_{i:05d}_with_a_long_name")


def _empty_attr(f: h5py.File) -> None:
    f["images"] = images()
    f["factors"] = np.zeros((8, 2))
    f["factors"].attrs["factor_names"] = h5py.Empty("S10")


def _fifo_in_class(tmp: Path) -> str:
    fifo(tmp / "d" / "a" / "a.png")
    return str(tmp / "d")


def _link_to_root(tmp: Path) -> str:
    class_folder(tmp / "d", {"a/x.png": png_bytes(np.zeros((28, 28), np.uint8))})
    os.symlink("/", tmp / "d" / "b")
    return str(tmp / "d")


def _file_link_out(tmp: Path) -> str:
    (tmp / "outside.png").write_bytes(png_bytes(np.zeros((28, 28), np.uint8)))
    class_folder(tmp / "d", {"a/x.png": png_bytes(np.zeros((28, 28), np.uint8))})
    os.symlink(tmp / "outside.png", tmp / "d" / "a" / "y.png")
    return str(tmp / "d")


def _link(target: str, name: str) -> Data:
    def build(tmp: Path) -> str:
        os.symlink(target, tmp / name)
        return str(tmp / name)

    return build


def _fifo_named(name: str) -> Data:
    return lambda tmp: str(fifo(tmp / name))


def _labels(values: np.ndarray) -> Data:
    return lambda tmp: npz(tmp / "l.npz", images=images(len(values)), labels=values)


def _dsprites(classes: np.ndarray, n: int = 8) -> Data:
    return lambda tmp: npz(tmp / "d.npz", imgs=images(n) % 2, latents_classes=classes)


def _one_image(content: bytes, name: str = "a.png") -> Data:
    return lambda tmp: class_folder(tmp / "d", {f"c/{name}": content})


_F32 = np.linspace(0, 255, 784, dtype=np.float32).reshape(28, 28)
_I32 = np.full((28, 28), 70000, np.int32)

# id -> (build the data, exit code, fragment of the one line); the report's other options are fixed.
DATA_CASES: dict[str, tuple[Data, int, str]] = {
    # arrays that used to end in exit 70
    "npz-encrypted-member": (lambda t: patched_npz(t / "e.npz", flag=1), 5, "encrypted"),
    "npz-deflate64-member": (lambda t: patched_npz(t / "m9.npz", method=9), 5, "compression"),
    "npz-method-99-member": (lambda t: patched_npz(t / "m99.npz", method=99), 5, "cannot read"),
    "npy-negative-dim": (lambda t: raw_npy(t / "n.npy", (-5, 28, 28)), 5, "negative"),
    "npy-in-npz-negative-dim": (lambda t: raw_npy(t / "n.npz", (4, -28, 28)), 5, "negative"),
    "npy-declares-more-than-file": (lambda t: raw_npy(t / "big.npy", (10**6, 28, 28)), 5, "declares"),
    "dsprites-0d-classes": (_dsprites(np.array(3)), 5, "latents_classes"),
    "dsprites-classes-3-columns": (_dsprites(np.zeros((8, 3), np.int64)), 5, "latents_classes"),
    "dsprites-classes-wrong-n": (_dsprites(np.zeros((5, 6), np.int64)), 5, "factors"),
    "npz-0d-labels": (lambda t: npz(t / "l.npz", images=images(), labels=np.array(3)), 5, "labels"),
    "npz-0d-factors": (lambda t: npz(t / "f.npz", images=images(), factors=np.array(3.0)), 5, "factors"),
    "npz-0d-images": (lambda t: npz(t / "i.npz", images=np.array(7)), 5, "scalar"),
    "npz-object-labels": (lambda t: npz(t / "o.npz", images=images(), labels=np.array([{}] * 8)), 5, "objects"),
    "labels-1e300": (_labels(np.full(8, 1e300)), 5, "not a class number"),
    "labels-nan": (_labels(np.full(8, np.nan)), 5, "whole class numbers"),
    "labels-half": (_labels(np.full(8, 1.5)), 5, "whole class numbers"),
    "labels-uint64-max": (_labels(np.full(8, 2**64 - 1, np.uint64)), 5, "not a class number"),
    "labels-strings": (_labels(np.array(["a"] * 8)), 5, "labels"),
    "factors-infinite": (lambda t: npz(t / "f.npz", images=images(), factors=np.full((8, 2), np.inf)), 5, "finite"),
    "npy-uint16-above-255": (lambda t: npz(t / "u.npz", images=images(dtype="u2") * 300), 5, "exceeds"),
    "npy-int8-negative": (lambda t: npz(t / "i.npz", images=-images(dtype="i1") - 1), 5, "negative"),
    "npy-float-0-255": (lambda t: npz(t / "f.npz", images=images(dtype="f4")), 5, "[0, 1]"),
    "npz-no-images-20k-members": (lambda t: many_members(t / "m.npz", 20000), 5, "more"),
    "npz-key-with-escape": (lambda t: npz(t / "k.npz", images=images()) + f":{ESC}[31mred", 5, "no images array"),
    # declared sizes against stored bytes
    "npz-million-zero-rows": (lambda t: zeros_member_npz(t / "z.npz", 1 << 20), 5, "500:1"),
    "h5-1e9-images-in-2kb": (
        lambda t: h5(t / "s.h5", lambda f: f.create_dataset("images", (10**9, 28, 28), "u1")),
        5,
        "stores 0",
    ),  # fmt: skip
    "h5-chunked-never-written": (
        lambda t: h5(t / "c.h5", lambda f: f.create_dataset("images", (10**6, 28, 28), "u1", chunks=(64, 28, 28))),
        5,
        "declares",
    ),  # fmt: skip
    "h5-gzip-zeros": (
        lambda t: h5(
            t / "g.h5",
            lambda f: f.create_dataset(
                "images", data=np.zeros((40, 600, 600), np.uint8), chunks=(1, 600, 600), compression="gzip"
            ),
        ),
        5,
        "500:1",
    ),  # fmt: skip
    "h5-labels-never-written": (
        lambda t: h5(
            t / "l.h5", lambda f: (f.create_dataset("images", data=images()), f.create_dataset("labels", (8,), "f8"))
        ),
        5,
        "labels",
    ),  # fmt: skip
    # images larger than a batch
    "npy-sparse-16000-squared": (
        lambda t: raw_npy(t / "s.npy", (3, 16000, 16000), sparse=3 * 16000**2),
        5,
        "more than a batch",
    ),  # fmt: skip
    "h5-one-9000-squared-image": (
        lambda t: h5(
            t / "b.h5",
            lambda f: f.create_dataset("images", (1, 9000, 9000), "u1", chunks=(1, 1000, 1000), compression="gzip"),
        ),
        5,
        "more than a batch",
    ),  # fmt: skip
    "png-claims-30000-squared": (_one_image(png_claiming(30000, 30000)), 5, "a.png"),
    "png-claims-9000-squared": (_one_image(png_claiming(9000, 9000)), 5, "more than a batch"),
    # HDF5 that is malformed or reads other files
    "h5-soft-link-loop": (lambda t: h5(t / "loop.h5", _soft_loop), 5, "loop.h5"),
    "h5-empty-images": (
        lambda t: h5(t / "e.h5", lambda f: f.create_dataset("images", data=h5py.Empty("u1"))),
        5,
        "Empty",
    ),  # fmt: skip
    "h5-empty-factor-names": (lambda t: h5(t / "e.h5", _empty_attr), 5, "Empty"),
    "h5-20k-keys-no-images": (lambda t: h5(t / "k.h5", _many_keys), 5, "more"),
    "h5-key-with-escape": (
        lambda t: h5(t / "k.h5", lambda f: f.create_dataset("images", data=images()), key=f"{ESC}]0;title{ESC}\\"),
        5,
        "no dataset",
    ),  # fmt: skip
    "h5-labels-1e300": (
        lambda t: h5(
            t / "l.h5",
            lambda f: (f.create_dataset("images", data=images()), f.create_dataset("labels", data=np.full(8, 1e300))),
        ),
        5,
        "not a class number",
    ),  # fmt: skip
    "h5-string-images": (
        lambda t: h5(t / "s.h5", lambda f: f.create_dataset("images", data=np.array(["a"] * 8, dtype="S1"))),
        5,
        "numbers",
    ),  # fmt: skip
    "h5-external-link": (lambda t: h5_external_link(t / "x.h5", t / "other.h5"), 5, "--allow-external"),
    "h5-virtual-dataset": (lambda t: h5_virtual(t / "v.h5", t / "src.h5"), 5, "--allow-external"),
    "h5-virtual-missing-file": (
        lambda t: h5_virtual(t / "v.h5", t / "gone.h5", make_source=False),
        5,
        "--allow-external",
    ),  # fmt: skip
    "h5-external-etc-passwd": (lambda t: h5_external_storage(t / "p.h5", "/etc/passwd"), 5, "--allow-external"),
    "h5-external-dev-urandom": (lambda t: h5_external_storage(t / "u.h5", "/dev/urandom"), 5, "--allow-external"),
    # files that are not regular, links out of a folder or round a loop
    "npy-fifo": (_fifo_named("a.npy"), 5, "not a regular file"),
    "npz-fifo": (_fifo_named("a.npz"), 5, "not a regular file"),
    "h5-fifo": (_fifo_named("a.h5"), 5, "not a regular file"),
    "npy-link-to-dev-zero": (_link("/dev/zero", "z.npy"), 5, "/dev"),
    "npz-link-to-proc": (_link("/proc/self/status", "p.npz"), 5, "/proc"),
    "folder-proc": (lambda t: "/proc", 5, "/proc"),
    "folder-sys": (lambda t: "/sys/kernel", 5, "/sys"),
    "folder-link-to-dev": (_link("/dev", "devices"), 5, "/dev"),
    "folder-fifo-as-png": (_fifo_in_class, 5, "holds no images"),
    "folder-class-linked-to-root": (_link_to_root, 5, "links outside"),
    "folder-image-linked-outside": (_file_link_out, 5, "links outside"),
    # pixels that cannot be read by their real range
    "tiff-float-0-255": (_one_image(tiff_bytes(_F32, "F"), "a.tif"), 5, "[0, 1]"),
    "tiff-int32-above-16-bit": (_one_image(tiff_bytes(_I32, "I"), "a.tif"), 5, "0..65535"),
    "png-truncated": (_one_image(png_bytes(np.zeros((28, 28), np.uint8))[:45]), 5, "cannot decode"),
}


def _pythae(config: object, weights: str = "dir") -> Callable[[Path], str]:
    def build(tmp: Path) -> str:
        folder = tmp / "pythae"
        folder.mkdir()
        (folder / "model_config.json").write_text(json.dumps(config))
        if weights == "dir":
            (folder / "model.pt").mkdir()
        elif weights == "fifo":
            fifo(folder / "model.pt")
        return str(folder)

    return build


_GOOD = {"name": "VAEConfig", "input_dim": [1, 28, 28], "latent_dim": 4, "reconstruction_loss": "bce"}
MODEL_CASES: dict[str, tuple[Callable[[Path], str], int, str]] = {
    "pythae-name-a-list": (_pythae({**_GOOD, "name": ["BetaVAEConfig"]}), 3, "must name the model class"),
    "pythae-no-name": (_pythae({k: v for k, v in _GOOD.items() if k != "name"}), 3, "must name the model class"),
    "pythae-name-a-number": (_pythae({**_GOOD, "name": 7}), 3, "must name the model class"),
    "pythae-name-with-escape": (_pythae({**_GOOD, "name": f"{ESC}[2J"}), 3, "not a pythae model"),
    "pythae-config-a-list": (_pythae([_GOOD]), 3, "JSON object"),
    "pythae-model-pt-a-folder": (_pythae(_GOOD, "dir"), 3, "not a regular file"),
    "pythae-model-pt-a-fifo": (_pythae(_GOOD, "fifo"), 3, "not a regular file"),
}


def _run(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, args)
    return result.exit_code, result.stderr, result.stdout


def _check(code: int, stderr: str, stdout: str, want: int, fragment: str) -> None:
    lines = stderr.strip().splitlines()
    assert code == want, (code, stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr[-2000:]
    assert fragment in lines[0], lines[0]
    assert len(lines[0]) <= 420 and ESC not in stderr + stdout and "Traceback" not in stderr


@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_hostile_data_is_one_line_and_its_exit_code(case: str, tiny_native: Path, tmp_path: Path) -> None:
    build, code, fragment = DATA_CASES[case]
    data = build(tmp_path)
    out = tmp_path / "out"
    _check(*_run(["report", str(tiny_native), "--data", data, "--no-mi", "--limit", "8", "--out", str(out)]),
           code, fragment)  # fmt: skip
    assert not out.exists()


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_hostile_pythae_folder_is_one_line_and_exit_3(case: str, tmp_path: Path) -> None:
    build, code, fragment = MODEL_CASES[case]
    _check(*_run(["inspect", build(tmp_path)]), code, fragment)


def _existing_file(tmp: Path) -> str:
    (tmp / "taken").write_text("a file")
    return str(tmp / "taken")


def _foreign_folder(tmp: Path) -> str:
    (tmp / "o").mkdir()
    (tmp / "o" / "notes.txt").write_text("mine")
    return str(tmp / "o")


def _linked_folder(tmp: Path) -> str:
    (tmp / "real").mkdir()
    os.symlink(tmp / "real", tmp / "o")
    return str(tmp / "o")


OUTPUT_CASES: dict[str, tuple[Callable[[Path], str], tuple[str, ...], int, str]] = {
    "out-an-existing-file": (_existing_file, (), 6, "is a file"),
    "out-holds-other-files-force": (_foreign_folder, ("--force",), 6, "does not write"),
    "out-a-symlink": (_linked_folder, ("--force",), 6, "symbolic link"),
    "zero-images": (lambda t: str(t / "o"), ("--limit", "0"), 5, "no images"),
}


@pytest.mark.parametrize("case", sorted(OUTPUT_CASES))
def test_output_refusals_are_their_exit_code(case: str, tiny_native: Path, tmp_path: Path) -> None:
    build, extra, code, fragment = OUTPUT_CASES[case]
    args = ["report", str(tiny_native), "--data", "mnist-sample", "--no-mi", "--limit", "8", "--out", build(tmp_path)]
    _check(*_run([*args, *extra]), code, fragment)


def test_the_corpus_holds_sixty_cases() -> None:
    assert len(DATA_CASES) + len(MODEL_CASES) + len(OUTPUT_CASES) >= 60

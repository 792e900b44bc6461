"""Every user-caused failure is its documented exit code and ONE line on stderr, never 70 or a traceback.

A corpus of malformed inputs, built at test time in tmp_path (each file a few KB, the zip bombs a few
hundred KB), goes through the command line in-process: checkpoints that ask for memory or lie about
themselves, metadata and JointVAE `specs.json` with wrong types, paths that cannot be read or written,
options out of range, broken data files, a damaged resume state. Each case states the exit code and a
fragment of the one line. docs/checkpoints.md ("Reliability, measured") quotes the counts.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from hostile_files import (
    bytearray_gadget,
    copy_zip,
    deflated_zeros_member,
    edit_meta,
    ext_opcode,
    legacy_declares_more,
    memo_global,
    plain_bytes_pickle,
    rewrite,
    spec_blocks,
    stack_global,
    stride0,
    stride0_jointvae,
    tiny_native,
    zip_bomb,
)
from vmieval.cli.main import cli

from vmieval.architectures import build_architecture
from vmieval.architectures.jointvae import JointVAEConfig
from vmieval.spec import ModelSpec, categorical, gaussian

SMALL_BOMB = 64 << 20  # inflates to twice the pickle cap; builds in a fraction of a second
Build = Callable[[Path], list[str]]


def inspect(build: Callable[[Path], Path]) -> Build:
    return lambda tmp: ["inspect", str(build(tmp))]


def load(build: Callable[[Path], Path]) -> Build:
    """A command that loads (builds) the model: `mi-bound`, refused before any data is read."""
    return lambda tmp: ["mi-bound", str(build(tmp)), "--dataset", "mnist-sample", "--limit", "64"]


def honest(tmp: Path) -> Path:
    return tiny_native(tmp / "honest.pt")


def native(edit: Callable[[dict], None]) -> Callable[[Path], Path]:
    return lambda tmp: rewrite(tiny_native(tmp / "honest.pt"), edit, tmp / "edited.pt")


def meta(fn: Callable[[dict], None]) -> Callable[[Path], Path]:
    return native(edit_meta(fn))


def state(fn: Callable[[dict], None]) -> Callable[[Path], Path]:
    return native(lambda p: fn(p["state_dict"]))


def first_weight(transform: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[Path], Path]:
    def edit(sd: dict) -> None:
        key = next(iter(sd))
        sd[key] = transform(sd[key])

    return state(edit)


def alias(sd: dict) -> None:
    """Two entries that are the same tensor: materialising both costs twice the bytes in the file."""
    sd["a"] = sd["b"] = torch.zeros(64)


def history(entry: dict) -> Callable[[Path], Path]:
    return meta(lambda m: m.update(training={"history": [entry]}))


def nested(depth: int) -> dict:
    node: dict = {}
    for _ in range(depth):
        node = {"a": node}
    return node


def with_zip(edit: Callable[[str, bytes], tuple[bytes, int] | None]) -> Callable[[Path], Path]:
    return lambda tmp: copy_zip(tiny_native(tmp / "honest.pt"), tmp / "edited.pt", edit)


def _flip_bit(name: str, data: bytes) -> tuple[bytes, int] | None:
    if name.endswith("/data/0"):
        return bytes([data[0] ^ 0x01]) + data[1:], zipfile.ZIP_STORED
    return None


def _half_pickle(name: str, data: bytes) -> tuple[bytes, int] | None:
    return (data[: len(data) // 2], zipfile.ZIP_STORED) if name.endswith("data.pkl") else None


def raw_metadata(text: str) -> Callable[[Path], Path]:
    return native(lambda p: p.update(metadata=text))


JOINT_SPEC = ModelSpec((1, 32, 32), (gaussian("z", 4), categorical("c", 10)))


def jointvae(settings: object, raw: bytes | None = None) -> Callable[[Path], Path]:
    """A JointVAE state dict (recognised by its key names) with the given specs.json beside it."""

    def build(tmp: Path) -> Path:
        torch.manual_seed(0)
        module = build_architecture("jointvae", JointVAEConfig(hidden=32), JOINT_SPEC)
        torch.save(module.state_dict(), tmp / "model.pt")
        (tmp / "specs.json").write_bytes(raw if raw is not None else json.dumps(settings).encode())
        return tmp / "model.pt"

    return build


def latent(cont: object, disc: object = (10,)) -> Callable[[Path], Path]:
    return jointvae({"latent_spec": {"cont": cont, "disc": list(disc) if isinstance(disc, tuple) else disc}})


def report(checkpoint: Callable[[Path], Path] | None = None, *extra: str, out: str | None = None) -> Build:
    def build(tmp: Path) -> list[str]:
        file_blocker(tmp)
        path = checkpoint(tmp) if checkpoint else honest(tmp)
        folder = out.replace("TMP", str(tmp)) if out else str(tmp / "report-out")
        return ["report", str(path), "--dataset", "mnist-sample", "--limit", "64", "--no-mi", "--out", folder, *extra]

    return build


def file_blocker(tmp: Path) -> Path:
    (tmp / "a_file").write_text("not a folder")
    return tmp / "a_file"


def mi_out(target: str, checkpoint_name: str = "honest.pt") -> Build:
    def build(tmp: Path) -> list[str]:
        file_blocker(tmp)
        (tmp / "exists.h5").write_text("earlier")
        path = tiny_native(tmp / checkpoint_name)
        out = target.replace("TMP", str(tmp))
        return ["mi-bound", str(path), "--dataset", "mnist-sample", "--limit", "64", "--out", out]

    return build


def train_out(target: str) -> Build:
    def build(tmp: Path) -> list[str]:
        file_blocker(tmp)
        return ["train-reference", "--preset", "sample-joint", "--epochs", "1", "--limit", "64",
                "--out", target.replace("TMP", str(tmp))]  # fmt: skip

    return build


def renamed(name: str) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        return tiny_native(tmp / "honest.pt").rename(tmp / name)

    return build


def idx(images: bytes, labels: bytes | None = None, gz: bool = False) -> Build:
    """MNIST test files in a folder of their own, passed with --data-dir."""

    def build(tmp: Path) -> list[str]:
        data = tmp / "data"
        data.mkdir()
        suffix = ".gz" if gz else ""
        (data / f"t10k-images-idx3-ubyte{suffix}").write_bytes(images)
        lab = labels if labels is not None else struct.pack(">II", 0x801, 4) + bytes(4)
        (data / f"t10k-labels-idx1-ubyte{suffix}").write_bytes(gzip.compress(lab) if gz else lab)
        path = tiny_native(tmp / "honest.pt")
        return ["mi-bound", str(path), "--dataset", "mnist", "--data-dir", str(data)]

    return build


def images_header(n: int, rows: int, cols: int) -> bytes:
    return struct.pack(">IIII", 0x803, n, rows, cols)


def damaged_sidecar(tmp: Path) -> list[str]:
    """A finished one-epoch run whose resume file is replaced by a structure with wrong types."""
    args = ["train-reference", "--preset", "sample-joint", "--epochs", "1", "--limit", "64", "--out", str(tmp)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.stderr
    torch.save({"format": "vmieval-train-resume", "epochs_done": "one"}, tmp / "sample-joint-mi.resume.pt")
    return [*args[:-2], "--epochs", "2", "--out", str(tmp), "--resume"]


# name -> (argv builder, exit code, fragment of the one line)
CASES: dict[str, tuple[Build, int, str]] = {
    # -- memory asked for by small files ------------------------------------------------------------
    "stride0_inspect": (inspect(stride0), 3, "expanded or overlapping view"),
    "stride0_load": (load(stride0), 3, "expanded or overlapping view"),
    "stride0_jointvae_inspect": (inspect(stride0_jointvae), 3, "expanded or overlapping view"),
    "stride0_jointvae_load": (load(stride0_jointvae), 3, "expanded or overlapping view"),
    "overlapping_view": (
        inspect(state(lambda sd: sd.update(x=torch.zeros(100).as_strided((10, 10), (1, 1))))),
        3,
        "overlapping",
    ),  # fmt: skip
    "aliased_tensors": (inspect(state(alias)), 3, "alias"),
    "spec_2000_blocks": (load(spec_blocks), 3, "metadata implies"),
    "zip_bomb_pickle": (inspect(lambda tmp: zip_bomb(tmp, SMALL_BOMB)), 3, "zip bomb"),
    "zip_bomb_member": (inspect(lambda tmp: deflated_zeros_member(tmp, SMALL_BOMB)), 3, "zip bomb"),
    "legacy_declares_more": (inspect(legacy_declares_more), 3, "declare"),
    "huge_config_widths": (
        load(meta(lambda m: m["architecture"].update(config={"hidden": [100000, 100000]}))),
        3,
        "do not fit",
    ),  # fmt: skip
    # -- pickles naming code -------------------------------------------------------------------------
    "bytearray_gadget": (inspect(bytearray_gadget), 3, "builtins.bytearray"),
    "stack_global": (inspect(stack_global), 3, "os.system"),
    "memo_stack_global": (inspect(memo_global), 3, "builtins.eval"),
    "extension_opcode": (inspect(ext_opcode), 3, "extension registry"),
    "codecs_global": (inspect(plain_bytes_pickle), 3, "_codecs.encode"),
    "sparse_tensor": (inspect(state(lambda sd: sd.update(s=torch.eye(3).to_sparse()))), 3, "sparse"),
    # -- weights of the wrong kind or damaged ---------------------------------------------------------
    "complex_weights": (load(first_weight(lambda t: t.to(torch.complex64))), 3, "complex"),
    "float64_weights": (load(first_weight(lambda t: t.double())), 3, "float64 but"),
    "bfloat16_weights": (load(first_weight(lambda t: t.bfloat16())), 3, "bfloat16 but"),
    "int64_weights": (load(first_weight(lambda t: t.long())), 3, "int64 but"),
    "bit_flip": (load(with_zip(_flip_bit)), 3, "corrupt"),
    "compressed_storage": (
        inspect(with_zip(lambda n, d: (d, zipfile.ZIP_DEFLATED) if "/data/" in n else None)),
        3,
        "compressed",
    ),  # fmt: skip
    "short_storage": (inspect(with_zip(lambda n, d: (d[:-4], 0) if n.endswith("/data/0") else None)), 3, "declare"),
    "missing_storage": (inspect(with_zip(lambda n, d: (b"", -1) if n.endswith("/data/1") else None)), 3, "missing"),
    "truncated_pickle": (inspect(with_zip(_half_pickle)), 3, "truncated"),
    "entry_not_a_tensor": (load(state(lambda sd: sd.update(extra=3))), 3, "expected a tensor"),
    "state_dict_a_list": (inspect(native(lambda p: p.update(state_dict=[torch.zeros(2)]))), 3, "no state dict"),
    "metadata_a_tensor": (inspect(native(lambda p: p.update(metadata=torch.zeros(2)))), 3, "no metadata string"),
    # -- metadata with wrong types or shapes ---------------------------------------------------------------
    "schema_version_negative": (inspect(meta(lambda m: m.update(schema_version=-5))), 3, "positive integer"),
    "schema_version_string": (inspect(meta(lambda m: m.update(schema_version="1"))), 3, "positive integer"),
    "schema_version_float": (inspect(meta(lambda m: m.update(schema_version=1.0))), 3, "positive integer"),
    "schema_version_newer": (inspect(meta(lambda m: m.update(schema_version=2))), 3, "newer"),
    "metadata_nested_deeply": (inspect(raw_metadata("[" * 100000 + "]" * 100000)), 3, "nested too deeply"),
    "metadata_a_list": (inspect(raw_metadata("[1, 2]")), 3, "does not describe"),
    "architecture_a_list": (inspect(meta(lambda m: m.update(architecture=["mlp"]))), 3, "names no architecture"),
    "config_a_list": (inspect(meta(lambda m: m["architecture"].update(config=[32]))), 3, "config"),
    "spec_a_list": (inspect(meta(lambda m: m.update(spec=[1, 2]))), 3, "spec"),
    "block_size_fraction": (inspect(meta(lambda m: m["spec"]["blocks"][0].update(size=16.7))), 3, "integer size"),
    "block_size_string": (inspect(meta(lambda m: m["spec"]["blocks"][0].update(size="16"))), 3, "integer size"),
    "observation_inf": (
        inspect(
            raw_metadata(
                '{"format": "vmieval-native", "schema_version": 1, "architecture": '
                '{"name": "mlp"}, "spec": {"observation_shape": [1, 1e999, 28], '
                '"blocks": []}}'
            )
        ),
        3,
        "observation_shape",
    ),  # fmt: skip
    "observation_huge": (
        inspect(meta(lambda m: m["spec"].update(observation_shape=[1, 10**6, 10**6]))),
        3,
        "values",
    ),  # fmt: skip
    "likelihood_scale_tiny": (
        inspect(meta(lambda m: m["spec"].update(likelihood="gaussian", likelihood_scale=1e-300))),
        3,
        "likelihood_scale",
    ),  # fmt: skip
    "likelihood_scale_text": (inspect(meta(lambda m: m["spec"].update(likelihood_scale="abc"))), 3, "likelihood_scale"),
    "value_range_nan": (
        inspect(
            raw_metadata(
                '{"format": "vmieval-native", "schema_version": 1, "architecture": '
                '{"name": "mlp"}, "spec": {"observation_shape": [1, 28, 28], "blocks": '
                '[{"kind": "gaussian", "name": "z", "size": 2}], "value_range": [NaN, 1]}}'
            )
        ),
        3,
        "value_range",
    ),  # fmt: skip
    # -- training records the report would choke on at the end ----------------------------------------------
    "training_a_list": (inspect(meta(lambda m: m.update(training=[1]))), 3, "training record"),
    "history_key_empty": (inspect(history({"": 1.0})), 3, "unusable key"),
    "history_key_dot": (inspect(history({".": 1.0})), 3, "unusable key"),
    "history_value_huge": (inspect(history({"elbo": 10**400})), 3, "too large"),
    "history_not_a_list": (inspect(meta(lambda m: m.update(training={"history": {"elbo": 1}}))), 3, "training.history"),
    "history_entry_a_number": (inspect(meta(lambda m: m.update(training={"history": [1, 2]}))), 3, "history[0]"),
    "training_nested_deeply": (inspect(meta(lambda m: m.update(training=nested(40)))), 3, "nested more than"),
    "training_seed_text": (inspect(meta(lambda m: m.update(training={"seed": "0"}))), 3, "training.seed"),
    "training_dataset_number": (inspect(meta(lambda m: m.update(training={"dataset": 7}))), 3, "training.dataset"),
    # -- JointVAE specs.json ----------------------------------------------------------------------------
    "jointvae_cont_text": (inspect(latent("abc")), 3, "latent_spec.cont"),
    "jointvae_cont_fraction": (inspect(latent(10.9)), 3, "latent_spec.cont"),
    "jointvae_cont_negative": (inspect(latent(-3)), 3, "latent_spec.cont"),
    "jointvae_cont_overflow": (
        inspect(jointvae(None, b'{"latent_spec": {"cont": 1e999, "disc": [10]}}')),
        3,
        "latent_spec.cont",
    ),  # fmt: skip
    "jointvae_disc_text": (inspect(latent(4, ("x",))), 3, "latent_spec.disc"),
    "jointvae_disc_number": (inspect(latent(4, 10)), 3, "latent_spec.disc"),
    "jointvae_disc_huge": (inspect(latent(4, (10**30,))), 3, "too large"),
    "jointvae_spec_mismatch": (load(latent(5)), 3, "belongs to another model"),
    "jointvae_specs_nested": (inspect(jointvae(None, b"[" * 100000 + b"]" * 100000)), 3, "nested too deeply"),
    "jointvae_specs_a_list": (inspect(jointvae([1, 2])), 3, "JSON object"),
    "jointvae_specs_not_utf8": (inspect(jointvae(None, b'{"latent_spec": "\xff\xfe"}')), 3, "UTF-8"),
    "jointvae_specs_huge": (inspect(jointvae(None, b" " * (2 << 20))), 3, "larger than"),
    "jointvae_dataset_number": (
        inspect(jointvae({"latent_spec": {"cont": 4, "disc": [10]}, "dataset": 5})),
        3,
        "training.dataset",
    ),  # fmt: skip
    # -- input paths ---------------------------------------------------------------------------------------
    "checkpoint_name_too_long": (lambda tmp: ["inspect", str(tmp / ("x" * 300 + ".pt"))], 3, "File name too long"),
    "checkpoint_is_a_folder": (lambda tmp: ["inspect", str(tmp)], 2, "is a directory"),
    "checkpoint_under_a_file": (lambda tmp: ["inspect", str(file_blocker(tmp) / "m.pt")], 3, "no such file"),
    # -- output paths, refused before any work -------------------------------------------------------------------
    "report_out_under_a_file": (report(out="TMP/a_file/sub"), 6, "a_file is a file"),
    "report_out_in_proc": (report(out="/proc/vmieval-report"), 6, "not writable"),
    "report_out_name_too_long": (report(out="TMP/" + "r" * 300), 6, "longer than this filesystem allows"),
    "report_checkpoint_dotdot": (report(renamed("..pt")), 6, "model name"),
    "report_existing_png": (report(None, out="TMP/a_file_dir"), 6, "--force"),
    "mi_bound_out_under_a_file": (mi_out("TMP/a_file/rows.h5"), 6, "does not exist"),
    "mi_bound_out_in_proc": (mi_out("/proc/vmieval-rows.h5"), 6, "not writable"),
    "mi_bound_out_name_too_long": (mi_out("TMP/" + "o" * 250 + ".h5"), 6, "longer than this filesystem allows"),
    "mi_bound_out_exists": (mi_out("TMP/exists.h5"), 6, "--force"),
    "mi_bound_checkpoint_dotdot": (mi_out("TMP/rows.h5", "..pt"), 6, "model name"),
    "train_out_under_a_file": (train_out("TMP/a_file/runs"), 6, "a_file is a file"),
    "train_out_in_proc": (train_out("/proc/vmieval-runs"), 6, "not writable"),
    # -- options out of range -------------------------------------------------------------------------------
    "mi_bound_seed_huge": (lambda tmp: [*load(honest)(tmp), "--seed", "99999999999999999999"], 2, "--seed"),
    "report_seed_huge": (report(None, "--seed", str(2**64)), 2, "--seed"),
    "train_seed_huge": (
        lambda tmp: ["train-reference", "--preset", "sample-joint", "--seed", str(10**20)],
        2,
        "--seed",
    ),  # fmt: skip
    "image_size_huge": (lambda tmp: [*load(honest)(tmp), "--image-size", "100000"], 2, "image size"),
    # -- data files --------------------------------------------------------------------------------------------
    "idx_truncated": (idx(images_header(4, 28, 28) + bytes(100)), 5, "t10k-images"),
    "idx_dims_overflow": (idx(images_header(4, 2**31, 2**31)), 5, "t10k-images"),
    "idx_zero_by_zero": (idx(images_header(4, 0, 0)), 5, "t10k-images"),
    "idx_corrupt_deflate": (
        idx(gzip.compress(images_header(4, 28, 28) + bytes(4 * 784))[:40] + b"\x00garbage" * 8, gz=True),
        5,
        "t10k-images",
    ),  # fmt: skip
    "idx_label_count_mismatch": (
        idx(images_header(4, 28, 28) + bytes(4 * 784), struct.pack(">II", 0x801, 3) + bytes(3)),
        5,
        "labels",
    ),  # fmt: skip
    # -- resume state ------------------------------------------------------------------------------------------
    "resume_state_damaged": (damaged_sidecar, 3, "epochs_done"),
}


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 60
    assert {code for _, code, _ in CASES.values()} == {2, 3, 5, 6}


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_line_and_the_documented_exit_code(tmp_path: Path, case: str) -> None:
    build, code, fragment = CASES[case]
    if case == "report_existing_png":
        (tmp_path / "a_file_dir").mkdir()
        (tmp_path / "a_file_dir" / "honest-sweep_z_0.png").write_bytes(b"an earlier grid")
    argv = build(tmp_path)
    before = sorted(os.listdir(tmp_path))
    result = CliRunner().invoke(cli, argv)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == code, (result.exit_code, result.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout
    assert fragment in lines[0], lines[0]
    if code in (2, 6):  # refused before any work: nothing new was written
        assert sorted(os.listdir(tmp_path)) == before

"""--device auto|cpu|cuda on `mi-bound` and `report`, and `device=` in the Python API.

Without CUDA: `auto` is the CPU, and asking for CUDA is one line and exit 2 before any work. With
CUDA (skipped otherwise): a report of the fixture MI model on the GPU agrees with the CPU report
within the standard errors, and deterministic quantities computed on the CPU from the posterior
(KL terms, cluster assignments) agree to float32 precision.
"""

from __future__ import annotations

import json
import math
import platform
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner
from shared_paths import FIXTURE_MODELS
from vmieval.cli.main import cli

import vmieval
from vmieval.devices import resolve_device
from vmieval.errors import UsageError

MODEL = FIXTURE_MODELS / "sample-joint-mi.pt"
NO_CUDA = not torch.cuda.is_available()
ARGS = ["--dataset", "mnist-sample", "--limit", "300", "--samples", "2000", "--max-epochs", "20", "--json"]


def test_auto_and_cpu_resolve_here() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(UsageError, match="unknown device"):
        resolve_device("tpu")


def test_python_api_takes_a_device() -> None:
    model = vmieval.load(MODEL, device="cpu")
    assert model.device == torch.device("cpu")
    assert vmieval.load(MODEL, device="auto").device == resolve_device("auto")


@pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA")
@pytest.mark.parametrize("command", ["report", "mi-bound"])
def test_cuda_without_cuda_is_one_line_exit_2(command: str) -> None:
    result = CliRunner().invoke(cli, [command, str(MODEL), "--dataset", "mnist-sample", "--device", "cuda"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no CUDA device" in lines[0], lines
    with pytest.raises(UsageError, match="no CUDA device"):
        vmieval.load(MODEL, device="cuda")


def _report(device: str) -> dict:
    result = CliRunner().invoke(cli, ["report", str(MODEL), *ARGS, "--device", device])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    return doc[doc["attrs"]["models"][0]]


def _close(a: float, b: float, se_a: float, se_b: float) -> bool:
    return abs(a - b) <= 4 * math.hypot(se_a, se_b) + 1e-4


@pytest.mark.skipif(NO_CUDA, reason="needs a CUDA device")
def test_cpu_and_cuda_reports_agree_within_stderr() -> None:
    cpu, gpu = _report("cpu"), _report("cuda")
    assert cpu["attrs"]["device"] == "cpu" and gpu["attrs"]["device"].startswith("cuda")
    for key in ("elbo", "recon"):
        assert _close(cpu["elbo"][key], gpu["elbo"][key], cpu["elbo"][f"{key}_stderr"], gpu["elbo"][f"{key}_stderr"])
    for a, b in zip(cpu["kl"]["value"], gpu["kl"]["value"], strict=True):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-4)
    agree = sum(x == y for x, y in zip(cpu["cluster"]["assignments"], gpu["cluster"]["assignments"], strict=True))
    assert agree >= 0.99 * len(cpu["cluster"]["assignments"])
    rows = dict(zip(cpu["mi"]["key"], zip(cpu["mi"]["value"], cpu["mi"]["stderr"], strict=True), strict=True))
    for key, value, stderr in zip(gpu["mi"]["key"], gpu["mi"]["value"], gpu["mi"]["stderr"], strict=True):
        if value is None or rows[key][0] is None:
            continue
        assert _close(value, rows[key][0], stderr or 0.0, rows[key][1] or 0.0), key


def test_the_device_used_is_recorded() -> None:
    fast = ["--dataset", "mnist-sample", "--limit", "60", "--samples", "200", "--max-epochs", "1", "--q-hidden", "16"]
    result = CliRunner().invoke(cli, ["mi-bound", str(MODEL), *fast, "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc[doc["attrs"]["models"][0]]["attrs"]["device"] == "cpu"


def test_trainers_resolve_devices_with_the_one_resolver() -> None:
    from vmieval.trainers import loop, paper_loop

    assert loop.resolve_device is resolve_device and paper_loop.resolve_device is resolve_device
    assert resolve_device("CPU ") == torch.device("cpu")  # the checked resolver, not a bare torch.device(name)


_MAPPED = """
import ctypes, sys
class Info(ctypes.Structure):  # glibc's struct mallinfo2: ten size_t fields
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes, libc.mallinfo2.restype = [ctypes.c_void_p], Info
if sys.argv[1] == "tuned":
    from vmieval.allocator import tune_allocator
    assert tune_allocator()
before = libc.mallinfo2().hblkhd
block = libc.malloc(64 << 20)  # 64 MiB: above glibc's largest dynamic mmap threshold (32 MiB)
print(libc.mallinfo2().hblkhd - before)
libc.free(block)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_tuned_allocator_serves_large_buffers_from_the_heap_not_mmap() -> None:
    mapped = {
        mode: int(
            subprocess.run([sys.executable, "-c", _MAPPED, mode], capture_output=True, text=True, check=True).stdout
        )  # fmt: skip
        for mode in ("default", "tuned")
    }
    # default: the block is its own mmap (unmapped again on free: the per-batch churn); tuned: heap memory
    assert mapped["default"] >= 64 << 20 and mapped["tuned"] == 0, mapped

"""Small files that ask for gigabytes are refused at the cost of a few megabytes.

The four files of the issue's "done when" (a 30000 x 30000 stride-0 view saved in ~300 KB, a spec of
2000 blocks of 4096 dims, a zip whose pickle inflates to 64 MiB, twice the cap, a 40-byte `bytearray(3e9)`
pickle) go through the command line in ONE child process under an address-space limit, so a guard
that fails ends in a MemoryError (exit 70) instead of exhausting the machine. The child's peak RSS
(`os.wait4`) must stay under 1 GiB, torch's own footprint included. benchmarks/bench_hostile_memory.py
measures each file separately, with 1 GiB bombs.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_files import bytearray_gadget, spec_blocks, stride0, zip_bomb

CHILD = """
import json, sys
from click.testing import CliRunner
from vmieval.cli.main import cli

results = []
for argv in json.loads(sys.argv[1]):
    result = CliRunner().invoke(cli, argv)
    results.append([result.exit_code, result.stderr.strip().splitlines()])
print(json.dumps(results))
"""
ADDRESS_SPACE = 7 << 30  # torch maps ~3.3 GB of address space at import; a 3.6 GB tensor does not fit beside it
PEAK_RSS = 1 << 30


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS and ru_maxrss in KiB are Linux behaviour")
def test_the_done_when_files_are_refused_under_1_gib(tmp_path: Path) -> None:
    mi_bound = ["--dataset", "mnist-sample", "--limit", "64"]
    commands = [
        ["mi-bound", str(stride0(tmp_path)), *mi_bound],
        ["inspect", str(stride0(tmp_path))],
        ["mi-bound", str(spec_blocks(tmp_path)), *mi_bound],
        ["inspect", str(zip_bomb(tmp_path, 64 << 20))],
        ["inspect", str(bytearray_gadget(tmp_path))],
    ]
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, json.dumps(commands)],
            stdout=stdout,
            stderr=stderr,
            preexec_fn=_limit,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak, not the largest of all children
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, err.read_text()[-2000:]
    for argv, (code, lines) in zip(commands, json.loads(out.read_text()), strict=True):
        assert code == 3 and len(lines) == 1, (argv[:2], code, lines)
    assert usage.ru_maxrss * 1024 < PEAK_RSS, f"peak RSS {usage.ru_maxrss / 1024:.0f} MiB"

"""glibc's allocator set for streamed batches: large buffers come back from the heap, not from mmap.

Why: glibc serves an allocation above its mmap threshold (128 KiB, raised dynamically to at most
32 MiB) with a fresh mmap and returns it with munmap when freed. A conv network on a batch of 64x64
images allocates activations of 10-130 MiB per layer, per batch, so every batch maps, faults in
(zero-fills) and unmaps them again: measured (benchmarks/bench_streaming.py, 20,000 sprites, encode +
ELBO decode, one thread) as 35-39% of the process's CPU in the kernel. Smaller batches cut that only
to 30% (and a different ELBO decode batch changes the report's sampled ELBO, so it is not free);
raising the mmap and trim thresholds to `THRESHOLD` keeps freed buffers in the heap for the next
batch: system time 3.4 s -> 0.1 s, the whole pass 1.4x faster, peak RSS +70 MiB (measured with
1 GiB; 256 MiB still covers a batch of 1,000 64x64 activations, ~130 MiB per layer, and bounds the
free heap kept back, which counts in the peak RSS of a 737,280-image report).

`tune_allocator` is called once at CLI start (`vmieval.cli.main`), so no user needs MALLOC_*
environment variables; the Python API leaves the process's allocator alone unless asked. It does
nothing (returns False) off glibc (macOS, musl, Windows) or where mallopt refuses the values.
"""

from __future__ import annotations

import ctypes
import platform
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
THRESHOLD = 256 << 20  # bytes: allocations below this come from the heap; at most this much free heap is kept


def tune_allocator(threshold: int = THRESHOLD) -> bool:
    """Raise glibc's mmap and trim thresholds to `threshold` bytes; True when both were set."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, threshold)) and bool(libc.mallopt(M_TRIM_THRESHOLD, threshold))
    except (OSError, AttributeError):
        return False

"""glibc's malloc, set for a long-running worker: large buffers go back to the kernel.

glibc serves a block of ``M_MMAP_THRESHOLD`` bytes or more (128 KiB at start) with a
mapping of its own, unmapped when freed. The threshold moves, though: each such block freed
raises it to that block's size (up to 32 MiB), so from the first job on, the transfer parts
(16 MiB) and aiohttp's copies of them are carved from the heaps, one per thread that
contended, and freed there they stay. A worker's RSS crept up with every job it ran
(``bench/memory_creep.py``: 105 MiB after the first of 40 same-size jobs, 146 MiB after the
last, the live heap flat at 24 MiB throughout). A threshold set once stops it moving.
"""

from __future__ import annotations

import ctypes
import os

M_MMAP_THRESHOLD = -3  # malloc.h
# Blocks from 1 MiB up are mapped on their own; smaller ones stay in the heaps, where they
# are reused (a threshold of 128 KiB measured the same RSS, for more mmap calls).
LARGE_BLOCK = 1 << 20


def return_large_blocks(threshold: int = LARGE_BLOCK) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes, for this process only (ffmpeg's
    children keep glibc's default). True if set; False where the C library is not glibc or
    the operator chose a threshold (``MALLOC_MMAP_THRESHOLD_``, ``GLIBC_TUNABLES``)."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "glibc.malloc.mmap_threshold" in tunables:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no mallopt: not glibc (macOS)
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))  # musl's answers 0

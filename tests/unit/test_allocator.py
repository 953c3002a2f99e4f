"""infra.allocator: with glibc's mmap threshold fixed, a worker's freed transfer parts go
back to the kernel instead of staying in its heap, job after job.

Each case runs in a fresh interpreter (the threshold is per process and only ever moves
up), the worker's pattern in small: a 16 MiB part, something small kept after it, the part
freed; glibc's own count of the free bytes it holds (``mallinfo2().fordblks``) is the
measure."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from infra.allocator import return_large_blocks

REPO = Path(__file__).resolve().parents[2]
MiB = 1 << 20
PARTS = 8
SCRIPT = """
import ctypes, sys
from infra.allocator import return_large_blocks

if sys.argv[1] == "set" and not return_large_blocks():
    sys.exit(3)
FIELDS = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
          "uordblks", "fordblks", "keepcost")
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in FIELDS]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
kept = []
for _ in range(int(sys.argv[2])):
    part = bytearray(16 << 20)  # a transfer part, written through
    kept.append(bytearray(4096))  # what the job keeps, carved after the part
    del part
print(libc.mallinfo2().fordblks)
"""

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")


def free_bytes_held(mode: str) -> int:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES", "MALLOC_TRIM_THRESHOLD_")
    }
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, str(PARTS)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


@glibc
def test_freed_parts_stay_in_the_heap_with_glibcs_moving_threshold() -> None:
    # The first part is mapped and unmapped; that raises the threshold, and every later
    # part comes from the heap and stays there once freed: what the worker did per job.
    assert free_bytes_held("default") >= 15 * MiB


@glibc
def test_with_the_threshold_fixed_freed_parts_go_back() -> None:
    assert free_bytes_held("set") < 1 * MiB


def test_an_operators_threshold_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert return_large_blocks() is False
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=65536")
    assert return_large_blocks() is False

"""``ffapi worker`` with a memory probe, for bench/memory_creep.py.

    FFAPI_MEMPROBE_DIR=DIR [FFAPI_MEMPROBE_TRACE=10] python bench/memprobe_worker.py worker

The worker runs unchanged (``handlers.cli.main``); this process also answers two signals,
in its main thread between jobs, by writing ``DIR/probe-N.json`` (and, when tracemalloc
is on, ``DIR/snapshot-N.pickle``):

- ``SIGUSR1``: measure. VmRSS, glibc's ``mallinfo2`` (bytes in use vs free but kept by
  the allocator, summed over its arenas), the number of arenas (``malloc_info``), what
  tracemalloc traces (live Python allocations), gc-tracked objects by type, asyncio tasks.
- ``SIGUSR2``: ``malloc_trim(0)`` first (glibc gives back the free memory it keeps), then
  measure: what the trim returned is the allocator's, what stays is live.

``FFAPI_MEMPROBE_GLIBC_DEFAULT=1`` runs the worker without its fixed mmap threshold
(infra/allocator.py), to measure what it fixes. ``FFAPI_MEMPROBE_TRACE=N`` starts
tracemalloc with N frames before the worker imports anything (it slows Python down and
its traces take memory of their own: RSS figures of a traced run are not the worker's).
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import json
import os
import re
import signal
import sys
import tempfile
import tracemalloc
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

OUT = Path(os.environ["FFAPI_MEMPROBE_DIR"])
MALLINFO2 = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
             "uordblks", "fordblks", "keepcost")  # fmt: skip


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in MALLINFO2]


_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_libc.mallinfo2.restype = _MallInfo2
_libc.fopen.restype = ctypes.c_void_p
_libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
_libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
_libc.fclose.argtypes = [ctypes.c_void_p]
_count = 0


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def arenas() -> int:
    """glibc's heaps (main arena plus one per thread that contended), from malloc_info."""
    with tempfile.NamedTemporaryFile(suffix=".xml") as xml:
        fp = _libc.fopen(xml.name.encode(), b"w")
        _libc.malloc_info(0, fp)
        _libc.fclose(fp)
        return len(re.findall(r'<heap nr="\d+"', Path(xml.name).read_text()))


def tasks() -> list[str]:
    try:
        running = asyncio.all_tasks(asyncio.get_running_loop())
    except RuntimeError:  # the signal arrived outside the loop (startup, shutdown)
        return []
    return sorted(str(t.get_coro()).split(" at ")[0] for t in running)


def type_name(obj: object) -> str:
    kind = type(obj)
    module = kind.__dict__.get("__module__", "")  # a descriptor on some C types
    return f"{module if isinstance(module, str) else '?'}.{kind.__qualname__}"


def measure(trimmed: bool) -> dict[str, Any]:
    gc.collect()
    info = _libc.mallinfo2()
    types = Counter(type_name(o) for o in gc.get_objects())
    traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else None
    return {
        "trimmed": trimmed,
        "rss_kb": rss_kb(),
        "mallinfo2": {name: getattr(info, name) for name in MALLINFO2},
        "arenas": arenas(),
        "traced_bytes": traced,
        "gc_objects": len(gc.get_objects()),
        "types": dict(types),
        "tasks": tasks(),
    }


def probe(signum: int, _frame: FrameType | None) -> None:
    global _count
    _count += 1
    trim = signum == signal.SIGUSR2
    if trim:
        _libc.malloc_trim(0)
    figures = measure(trim)
    if tracemalloc.is_tracing():
        tracemalloc.take_snapshot().dump(str(OUT / f"snapshot-{_count}.pickle"))
    part = OUT / f"probe-{_count}.json.part"  # the bench waits for the whole file
    part.write_text(json.dumps(figures))
    part.rename(part.with_suffix(""))


def main() -> int:
    frames = int(os.environ.get("FFAPI_MEMPROBE_TRACE", "0"))
    if frames:
        tracemalloc.start(frames)
    signal.signal(signal.SIGUSR1, probe)
    signal.signal(signal.SIGUSR2, probe)
    (OUT / "ready").touch()  # a signal before this would end the process
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import handlers.service
    from handlers.cli import main as ffapi

    if os.environ.get("FFAPI_MEMPROBE_GLIBC_DEFAULT"):  # the worker as it was: no threshold
        handlers.service.return_large_blocks = lambda: False  # type: ignore[assignment]
    return ffapi(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())

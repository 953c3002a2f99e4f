"""Does the worker's memory creep over same-size jobs, and whose is it? One ``ffapi
worker`` process, ``--jobs`` jobs of one clip in turn, the worker's heap after each.

    .venv/bin/python bench/memory_creep.py [--jobs 20] [--size-mb 10] [--preset NAME]
        [--trace 10] [--trim-each] [--glibc-default] [--malloc MALLOC_ARENA_MAX=2]
        [--from-job 5]

The worker runs as bench/worker_memory.py starts it (its own process, ``AWS_ENDPOINT_URL``
at the embedded emulator), wrapped by bench/memprobe_worker.py, which answers a signal
after each job with VmRSS, glibc's figures (in use, free but kept, arenas), live objects
by type and asyncio tasks. The emulator (moto, which keeps every object it is sent in
memory) runs in this bench process, not in the worker, so none of its growth is counted.

- Without ``--trace`` the RSS figures are the worker's own. ``--trace N`` turns on
  tracemalloc (N frames) and prints the allocation sites that grew between job
  ``--from-job`` and the last, overall and attributed to our code (the innermost frame in
  core/, infra/ or handlers/); traced runs are slower and their RSS includes the traces.
- After the last job the worker is asked to ``malloc_trim(0)``: what that gives back was
  the allocator's. ``--trim-each`` trims after every job (as the worker could);
  ``--malloc NAME=VALUE`` (repeatable) sets a glibc malloc variable for the worker;
  ``--glibc-default`` leaves out the worker's own fixed mmap threshold (infra/allocator.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.worker_memory import PRESETS, REPO, make_input, run_job, subscribe
from infra.bootstrap import bootstrap
from infra.emulator import embedded_emulator
from infra.settings import Settings, settings_environment

OURS = tuple(str(REPO / part) + os.sep for part in ("core", "infra", "handlers"))
MiB = 1024 * 1024


@dataclass(frozen=True)
class Options:
    jobs: int
    size_mb: int
    preset: str
    trace: int
    trim_each: bool
    glibc_default: bool
    malloc: tuple[str, ...]
    from_job: int


def start_worker(settings: Settings, opts: Options, probes: Path, log: Path) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FFAPI_", "MALLOC_"))}
    env.update(settings_environment(settings, only_set=True))
    env.update(PYTHONPATH=str(REPO), FFAPI_LOG_LEVEL="WARNING", FFAPI_LOG_FORMAT="json",
               FFAPI_MEMPROBE_DIR=str(probes), FFAPI_MEMPROBE_TRACE=str(opts.trace))  # fmt: skip
    env.update(setting.split("=", 1) for setting in opts.malloc)
    if opts.glibc_default:
        env["FFAPI_MEMPROBE_GLIBC_DEFAULT"] = "1"
    probe = REPO / "bench" / "memprobe_worker.py"
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, str(probe), "worker"], cwd=REPO, env=env,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


def ask(worker: Any, probes: Path, n: int, trim: bool) -> dict[str, Any]:
    worker.send_signal(signal.SIGUSR2 if trim else signal.SIGUSR1)
    path = probes / f"probe-{n}.json"
    deadline = time.monotonic() + 120
    while not path.exists():
        if time.monotonic() > deadline or worker.poll() is not None:
            raise RuntimeError(f"no probe {n} from the worker")
        time.sleep(0.05)
    return dict(json.loads(path.read_text()))


def row(label: str, p: dict[str, Any], seconds: float | None = None) -> str:
    m = p["mallinfo2"]
    traced = "-" if p["traced_bytes"] is None else f"{p['traced_bytes'] / MiB:.1f}"
    took = "-" if seconds is None else f"{seconds:.1f}"
    in_use = (m["uordblks"] + m["hblkhd"]) / MiB
    return (f"| {label} | {took} | {p['rss_kb'] / 1024:.1f} | {in_use:.1f} "
            f"| {m['fordblks'] / MiB:.1f} | {m['hblkhd'] / MiB:.1f} | {p['arenas']} "
            f"| {traced} | {p['gc_objects']} | {len(p['tasks'])} |")  # fmt: skip


HEADER = (
    "| after job | job s | VmRSS MiB | malloc in use MiB | malloc free, kept MiB "
    "| of it mmap MiB | arenas | traced MiB | gc objects | tasks |\n|---" + "|---:" * 9 + "|"
)


def type_growth(first: dict[str, Any], last: dict[str, Any], top: int = 15) -> None:
    grew = Counter(last["types"])
    grew.subtract(first["types"])
    print(f"\ngc-tracked objects by type, growth: {first['gc_objects']} -> {last['gc_objects']}")
    for name, n in [item for item in grew.most_common() if item[1] > 0][:top]:
        print(f"  {n:+6d}  {name}  (now {last['types'].get(name, 0)})")


def innermost_ours(trace: tracemalloc.Traceback) -> str | None:
    for frame in reversed(trace):  # tracemalloc lists the oldest frame first
        if frame.filename.startswith(OURS):
            return f"{Path(frame.filename).relative_to(REPO)}:{frame.lineno}"
    return None


def site_growth(probes: Path, first: int, last: int, top: int = 15) -> None:
    old = tracemalloc.Snapshot.load(str(probes / f"snapshot-{first}.pickle"))
    new = tracemalloc.Snapshot.load(str(probes / f"snapshot-{last}.pickle"))
    skip = [tracemalloc.Filter(False, tracemalloc.__file__)]
    old, new = old.filter_traces(skip), new.filter_traces(skip)
    print(f"\ntracemalloc, job {first} -> job {last}, top {top} sites by size growth:")
    for stat in new.compare_to(old, "lineno")[:top]:
        frame = stat.traceback[0]
        where = Path(frame.filename)
        shown = where.relative_to(REPO) if where.is_relative_to(REPO) else where.name
        print(f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks  "
              f"{shown}:{frame.lineno}")  # fmt: skip
    ours: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for stat in new.compare_to(old, "traceback"):
        site = innermost_ours(stat.traceback)
        if site is not None:
            ours[site][0] += stat.size_diff
            ours[site][1] += stat.count_diff
    total = sum(size for size, _ in ours.values())
    print(f"growth with a frame of core/, infra/ or handlers/: {total / 1024:+.1f} KiB; top sites:")
    for site, (size, count) in sorted(ours.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"  {size / 1024:+9.1f} KiB {count:+7d} blocks  {site}")


def run(opts: Options) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp, embedded_emulator("us-east-1"):
        root, probes = Path(tmp), Path(tmp) / "probes"
        (root / "work").mkdir()
        probes.mkdir()
        (root / "presets.toml").write_text(PRESETS)
        settings = Settings(
            preset=opts.preset, presets_file=root / "presets.toml", temp_dir=root / "work",
            wait_time_seconds=1, worker_concurrency=1, visibility_timeout=1800,
        )  # fmt: skip
        res = bootstrap(settings)
        events = subscribe(res.topic_arn)
        clip = make_input(root / f"noise-{opts.size_mb}mb.mp4", opts.size_mb)
        worker = start_worker(settings, opts, probes, root / "worker.log")
        try:
            while not (probes / "ready").exists():
                time.sleep(0.05)
            print(f"{clip.name}, {opts.preset}, {opts.jobs} jobs\n{HEADER}")
            found: list[dict[str, Any]] = [{}]  # found[N]: after job N (probe N)
            for job in range(1, opts.jobs + 1):
                took = run_job(worker.pid, settings, res, events, clip).seconds
                found.append(ask(worker, probes, job, trim=opts.trim_each))
                print(row(str(job), found[-1], took), flush=True)
            found.append(ask(worker, probes, opts.jobs + 1, trim=True))
            print(row(f"{opts.jobs}, then malloc_trim(0)", found[-1]))
            type_growth(found[opts.from_job], found[opts.jobs])
            print(f"tasks after the last job: {found[opts.jobs]['tasks']}")
            if opts.trace:
                site_growth(probes, opts.from_job, opts.jobs)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(60)
            if worker.returncode:
                print((root / "worker.log").read_text()[-4000:], file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--size-mb", type=int, default=10, help="the clip (approximate)")
    parser.add_argument("--preset", default="mp4-lossless")
    parser.add_argument("--trace", type=int, default=0, help="tracemalloc frames (0: off)")
    parser.add_argument("--trim-each", action="store_true", help="malloc_trim after each job")
    parser.add_argument("--glibc-default", action="store_true",
                        help="no fixed mmap threshold (infra/allocator.py)")  # fmt: skip
    parser.add_argument("--malloc", action="append", default=[], metavar="MALLOC_X=N",
                        help="glibc tunable for the worker, e.g. MALLOC_ARENA_MAX=2")  # fmt: skip
    parser.add_argument("--from-job", type=int, default=5, help="growth measured from here")
    a = parser.parse_args()
    glibc = (a.glibc_default, tuple(a.malloc))
    run(Options(a.jobs, a.size_mb, a.preset, a.trace, a.trim_each, *glibc, a.from_job))

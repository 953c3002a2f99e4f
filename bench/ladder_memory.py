"""How much memory the ffmpeg of each shipped preset takes, on a generated 1080p clip.

    .venv/bin/python bench/ladder_memory.py [--seconds 6] [--presets web-av1,web-hls]

Each preset of core/presets.toml is planned on the CPU tier, as a job would plan it, and its
ffmpeg run once on its own (no RLIMIT_AS: the point is to see what it would need). A thread
reads /proc/PID/status every 10 ms for the peak address space (VmPeak, what RLIMIT_AS caps)
and the peak RSS (VmHWM); ``wait4`` gives the kernel's own ru_maxrss at the end. Beside
them: the address-space limit the job would run under on this host (the default
FFAPI_FFMPEG_MEMORY_MB, 2048 + 512 per core, plus what the plan reserves for its encoders)
and the headroom left.

SVT-AV1 sizes itself from the cores it sees; to see what a bigger host would reserve, run
this under an LD_PRELOAD shim whose ``sysconf(_SC_NPROCESSORS_ONLN)`` answers more.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.media.plan import plan_mp4
from core.media.probe import ProbeResult, parse_probe
from core.presets import Mp4Preset, OutputPreset, builtin_catalog
from core.streaming.renditions import plan_streaming
from infra.ffmpeg import FfmpegMedia, make_sample_clip
from infra.settings import Settings

MIB = 1024**2


@dataclass
class Row:
    preset: str
    encoder: str
    rungs: str
    vm_peak_mib: int
    hwm_mib: int
    maxrss_mib: int
    limit_mib: int
    seconds: float
    code: int


def status_kb(pid: int, name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def measure(argv: list[str], cwd: Path) -> tuple[int, int, int, int, float]:
    """(exit code, VmPeak kB, VmHWM kB, ru_maxrss kB, seconds) of one run."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peaks = {"VmPeak": 0, "VmHWM": 0}
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.01):
            for name in peaks:
                peaks[name] = max(peaks[name], status_kb(proc.pid, name))

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    assert proc.stderr is not None
    stderr = proc.stderr.read()  # until ffmpeg closes it, at exit
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    thread.join()
    if proc.returncode != 0:
        print(stderr.decode(errors="replace")[-600:], file=sys.stderr)
    seconds = time.perf_counter() - started
    return proc.returncode, peaks["VmPeak"], peaks["VmHWM"], usage.ru_maxrss, seconds


def run_preset(preset: OutputPreset, probe: ProbeResult, clip: Path, root: Path) -> Row:
    out = root / preset.name
    out.mkdir()
    base = Settings().ffmpeg_limits()
    assert base.memory_bytes is not None
    source, dest = PurePosixPath(clip), PurePosixPath(out)
    if isinstance(preset, Mp4Preset):
        mp4 = plan_mp4(preset, probe, source, dest)
        argv, encoder, rungs, limits = mp4.argv, mp4.encoder, f"{mp4.width}x{mp4.height}", base
    else:
        plan = plan_streaming(preset, probe, source, dest)
        for folder in plan.directories:
            (out / folder).mkdir(parents=True, exist_ok=True)
        argv, encoder, limits = plan.argv, plan.encoder, plan.limits(base)
        rungs = ",".join(str(min(r.width, r.height)) for r in plan.video) or "audio"
    code, peak, hwm, maxrss, seconds = measure(list(argv), out)
    assert limits.memory_bytes is not None
    return Row(preset.name, encoder, rungs, peak // 1024, hwm // 1024, maxrss // 1024,
               limits.memory_bytes // MIB, seconds, code)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--presets", default="", help="comma-separated names (default: all)")
    args = parser.parse_args()
    catalog = builtin_catalog()
    names = [n for n in args.presets.split(",") if n] or list(catalog.presets)
    cores = len(os.sched_getaffinity(0))
    print(f"{cores} cores, {args.seconds} s 1920x1080 30 fps clip with stereo AAC")
    with tempfile.TemporaryDirectory(prefix="ffapi-bench-") as tmp:
        root = Path(tmp)
        clip = asyncio.run(make_sample_clip(root / "source.mp4", args.seconds, 1920, 1080))
        probe = parse_probe(asyncio.run(FfmpegMedia().probe(clip)))
        head = ("preset", "encoder", "rungs", "VmPeak", "limit", "headroom", "peak RSS",
                "ru_maxrss", "wall s", "exit")  # fmt: skip
        print("{:<11} {:<10} {:<18} {:>8} {:>7} {:>9} {:>9} {:>10} {:>7} {:>5}".format(*head))
        for name in names:
            row = run_preset(catalog.presets[name], probe, clip, root)
            print(f"{row.preset:<11} {row.encoder:<10} {row.rungs:<18} {row.vm_peak_mib:>8} "
                  f"{row.limit_mib:>7} {row.limit_mib - row.vm_peak_mib:>9} {row.hwm_mib:>9} "
                  f"{row.maxrss_mib:>10} {row.seconds:>7.1f} {row.code:>5}")  # fmt: skip
    print("MiB; VmPeak: peak address space (what RLIMIT_AS caps); limit: the job's on this host")


if __name__ == "__main__":
    main()

"""What a GPU fallback costs, on a machine without a GPU.

    .venv/bin/python bench/accel_fallback.py [--runs 3]

For each preset, the same generated clip is run as a whole job (upload to completion event on
the embedded stack) with ``FFAPI_ACCEL=cpu`` and with ``FFAPI_ACCEL=gpu``: the forced GPU run
fails on the real ``Cannot load libcuda.so.1`` and completes on the CPU in the same attempt.
The difference is the price of trying the GPU first where there is none; whole jobs vary by
several percent here, so the failed GPU run is also timed alone (the web-hls argv, planned for
the gpu tier). Also timed: the capability probe the worker runs at start (listings,
nvidia-smi, the CPU's test encode).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.job_phases import one_job
from core.media.accel import AccelTier, TierChoice
from core.media.probe import parse_probe
from core.presets import StreamingPreset, builtin_catalog
from core.streaming.renditions import plan_streaming
from infra.bootstrap import bootstrap
from infra.capabilities import probe_capabilities
from infra.emulator import embedded_emulator
from infra.ffmpeg import FfmpegMedia, make_sample_clip, run_argv
from infra.logs import configure_logging
from infra.settings import Settings

PRESETS = ["mp4-720p", "web-hls"]


async def failed_gpu_run(clip: Path, runs: int) -> float:
    """Median seconds of the web-hls encode planned for the gpu tier, failing as it does here."""
    preset = builtin_catalog().get("web-hls")
    assert isinstance(preset, StreamingPreset)
    probe = parse_probe(await FfmpegMedia().probe(clip))
    out = clip.parent / "gpu-out"
    for sub in ("cmaf", "thumbnails"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    plan = plan_streaming(preset, probe, clip, out, TierChoice(AccelTier.GPU))
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        code, _, _ = await run_argv(plan.argv, cwd=out, timeout=60)
        seconds.append(time.perf_counter() - started)
        assert code != 0, "the gpu tier ran: this machine has a GPU"
    return statistics.median(seconds)


async def main(runs: int) -> None:
    configure_logging("ERROR")  # each forced run logs its fallback as a warning
    base = Settings(wait_time_seconds=1)
    probes = []
    for _ in range(runs):
        started = time.perf_counter()
        await probe_capabilities(fresh=True)
        probes.append(time.perf_counter() - started)
    print(f"capability probe: {statistics.median(probes):.2f}s (median of {runs})\n")
    print(f"{'preset':>10} {'cpu':>8} {'gpu->cpu':>9} {'cost':>7} {'encode cpu':>11} "
          f"{'encode gpu->cpu':>16}")  # fmt: skip
    with embedded_emulator(base.region), tempfile.TemporaryDirectory() as tmp:
        await asyncio.to_thread(bootstrap, base)
        clip = await make_sample_clip(Path(tmp) / "clip.mp4", 10, 1280, 720)
        failed = await failed_gpu_run(clip, runs)
        for preset in PRESETS:
            walls: dict[str, list[float]] = {"cpu": [], "gpu": []}
            encodes: dict[str, list[float]] = {"cpu": [], "gpu": []}
            for i in range(runs):
                for accel in ("cpu", "gpu"):
                    settings = base.model_copy(update={"accel": accel, "preset": preset})
                    key = f"{settings.watch_prefix}{preset}-{accel}-{i}.mp4"
                    timings, wall = await one_job(settings, clip, key)
                    walls[accel].append(wall)
                    encodes[accel].append(timings["encode"])
            cpu, gpu = (statistics.median(walls[a]) for a in ("cpu", "gpu"))
            enc_cpu, enc_gpu = (statistics.median(encodes[a]) for a in ("cpu", "gpu"))
            print(f"{preset:>10} {cpu:>7.2f}s {gpu:>8.2f}s {gpu - cpu:>+6.2f}s {enc_cpu:>10.2f}s "
                  f"{enc_gpu:>15.2f}s")  # fmt: skip
        print(f"\nthe failed gpu-tier run alone (web-hls argv): {failed:.3f}s (median of {runs})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(main(parser.parse_args().runs))

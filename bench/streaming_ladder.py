"""The web-hls ladder, measured side by side in one run on one generated 1080p clip.

    .venv/bin/python bench/streaming_ladder.py [--seconds 30] [--runs 3]

1. The whole pipeline (upload -> S3 notification -> worker -> ffmpeg -> QC -> upload ->
   completion event, on the embedded moto server) against the bare ffmpeg command of the same
   plan on a local file: the worker's overhead. Target: at most 1.10x.
2. The one-pass CMAF ladder (one decode, one set of segments behind HLS and DASH) against
   encoding the ladder twice, once for HLS (fMP4) and once for DASH, and against one ffmpeg
   process per rung (each decoding the source again), run one after another and all at once.
   Target: one pass at least 1.6x faster than separate HLS + DASH.
Comparison 2 leaves the thumbnails out of every variant so that only packaging differs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from job_phases import one_job  # the same whole job: upload, worker, completion event

from core.media.probe import parse_probe
from core.presets import StreamingPreset, builtin_catalog
from core.streaming.renditions import StreamingPlan, plan_streaming
from infra.bootstrap import bootstrap
from infra.emulator import embedded_emulator
from infra.ffmpeg import FfmpegMedia, make_sample_clip
from infra.logs import configure_logging
from infra.settings import Settings


def web_hls(images: bool) -> StreamingPreset:
    preset = builtin_catalog().presets["web-hls"]
    assert isinstance(preset, StreamingPreset)
    return preset if images else preset.model_copy(update={"thumbnails": None, "storyboard": None})


def plan_for(preset: StreamingPreset, clip: Path, out: Path) -> StreamingPlan:
    probe = parse_probe(asyncio.run(FfmpegMedia().probe(clip)))
    plan = plan_streaming(preset, probe, PurePosixPath(clip), PurePosixPath(out))
    for folder in plan.directories:
        (out / folder).mkdir(parents=True, exist_ok=True)
    return plan


def encode_part(plan: StreamingPlan) -> list[str]:
    """The argv up to its muxer: input, graph, maps and encoders (no thumbnails asked)."""
    argv = list(plan.argv)
    return argv[: argv.index("-map_chapters") + 2]


def separate_hls_and_dash(plan: StreamingPlan, out: Path) -> list[list[str]]:
    n = len(plan.video)
    variants = " ".join(f"v:{i},agroup:aud" for i in range(n)) + " a:0,agroup:aud"
    hls = [*encode_part(plan), "-f", "hls", "-hls_time", "4", "-hls_playlist_type", "vod",
           "-hls_segment_type", "fmp4", "-hls_flags", "independent_segments",
           "-master_pl_name", "master.m3u8", "-var_stream_map", variants,
           "-hls_segment_filename", f"file:{out}/hls/%v/seg-%05d.m4s",
           f"file:{out}/hls/%v/index.m3u8"]  # fmt: skip
    for variant in range(n + 1):  # the hls muxer does not create the variants' folders
        (out / "hls" / str(variant)).mkdir(parents=True, exist_ok=True)
    cmaf = list(plan.argv)
    dash = [a.replace("/cmaf/", "/dash/") for a in cmaf]
    dash[dash.index("-hls_playlist") + 1] = "0"
    (out / "dash").mkdir(exist_ok=True)
    return [hls, dash]


def per_rung(plan: StreamingPlan, clip: Path, out: Path) -> list[list[str]]:
    """One process per rung (and one for the audio): each decodes the source itself."""
    argv = list(plan.argv)
    graph = argv[argv.index("-filter_complex") + 1]
    head = graph.split(",split=")[0]  # "[0:N]format=...,fps=..."
    gop = argv[argv.index("-preset") : argv.index("-profile:v") + 2]
    runs = []
    for i, rung in enumerate(plan.video):
        folder = out / f"rung{i}"
        folder.mkdir(parents=True, exist_ok=True)
        runs.append([
            "ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-i", str(clip),
            "-filter_complex", f"{head},scale={rung.width}:{rung.height},setsar=1[v]",
            "-map", "[v]", "-c:v", "libx264", "-b:v", f"{rung.video_kbps}k",
            "-maxrate", f"{rung.maxrate_kbps}k", "-bufsize", f"{rung.bufsize_kbps}k", *gop,
            "-f", "dash", "-seg_duration", "4", "-hls_playlist", "1", f"{folder}/manifest.mpd",
        ])  # fmt: skip
    (out / "audio").mkdir(parents=True, exist_ok=True)
    runs.append([
        "ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-i", str(clip),
        "-map", "0:a:0", "-c:a", "aac", "-b:a", "128k", "-f", "dash", "-seg_duration", "4",
        "-hls_playlist", "1", f"{out}/audio/manifest.mpd",
    ])  # fmt: skip
    return runs


def timed(run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def sequential(argvs: list[list[str]]) -> Callable[[], None]:
    def go() -> None:
        for argv in argvs:
            subprocess.run(argv, check=True)

    return go


def parallel(argvs: list[list[str]]) -> Callable[[], None]:
    def go() -> None:
        procs = [subprocess.Popen(argv) for argv in argvs]
        if any(p.wait() != 0 for p in procs):
            raise RuntimeError("a per-rung encode failed")

    return go


def measure(seconds: int, runs: int) -> dict[str, list[float]]:
    configure_logging("WARNING")
    settings = Settings(wait_time_seconds=1, preset="web-hls")
    results: dict[str, list[float]] = {}
    with embedded_emulator(settings.region), tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bootstrap(settings)
        clip = asyncio.run(make_sample_clip(root / "source.mp4", seconds, 1920, 1080))
        for run in range(runs):
            work = root / f"run{run}"
            full = plan_for(web_hls(True), clip, work / "full")
            lean = plan_for(web_hls(False), clip, work / "lean")
            key = f"{settings.watch_prefix}bench-{run}.mp4"
            # The pipeline right after the bare command: the two numbers of the ratio are
            # taken back to back, under the same machine conditions.
            record(results, run, "bare", timed(sequential([list(full.argv)])))
            phases, wall = asyncio.run(one_job(settings, clip, key))  # upload -> event
            record(results, run, "pipeline", wall)
            for phase, spent in phases.items():
                results.setdefault(f"phase:{phase}", []).append(spent)
            cases = {
                "one-pass": sequential([list(lean.argv)]),
                "hls+dash": sequential(separate_hls_and_dash(lean, work / "lean")),
                "per-rung": sequential(per_rung(lean, clip, work / "seq")),
                "per-rung-par": parallel(per_rung(lean, clip, work / "par")),
            }
            for name, case in cases.items():
                record(results, run, name, timed(case))
    return results


def record(results: dict[str, list[float]], run: int, name: str, seconds: float) -> None:
    results.setdefault(name, []).append(seconds)
    print(f"  run {run + 1} {name:<13} {seconds:7.2f} s", file=sys.stderr)


def report(results: dict[str, list[float]], seconds: int) -> None:
    med = {k: statistics.median(v) for k, v in results.items()}
    rows = [
        ("pipeline, upload -> completion event", med["pipeline"], med["pipeline"] / med["bare"],
         "vs bare ffmpeg, same argv (target <= 1.10x)"),
        ("bare ffmpeg, one-pass CMAF + thumbnails", med["bare"], 1.0, ""),
        ("one-pass CMAF ladder (HLS + DASH)", med["one-pass"], 1.0, ""),
        ("separate HLS and DASH encodes", med["hls+dash"], med["hls+dash"] / med["one-pass"],
         "one pass is this much faster (target >= 1.6x)"),
        ("one process per rung, in turn", med["per-rung"], med["per-rung"] / med["one-pass"],
         "one pass is this much faster"),
        ("one process per rung, all at once", med["per-rung-par"],
         med["per-rung-par"] / med["one-pass"], "one pass is this much faster"),
    ]  # fmt: skip
    print(f"web-hls ladder, {seconds} s 1920x1080 30 fps source, median of "
          f"{len(results['bare'])} run(s)\n")  # fmt: skip
    print("| case | seconds | ratio | note |\n|---|---:|---:|---|")
    for name, value, ratio, note in rows:
        print(f"| {name} | {value:.2f} | {ratio:.2f}x | {note} |")
    phases = "  ".join(f"{k.split(':')[1]} {v:.2f}s" for k, v in med.items() if ":" in k)
    print(f"\npipeline phases (median): {phases}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    report(measure(args.seconds, args.runs), args.seconds)

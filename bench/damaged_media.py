"""How the worker classifies damaged media: each variant must complete or fail permanently.

    .venv/bin/python bench/damaged_media.py [--variants 20] [--seed 1] [--kinds truncate,...]
        [--containers mp4,mkv,ts] [--preset mp4-480p|web-hls] [--timeout 30] [--keep DIR]

A good clip (2 s, 320x180, H.264/AAC, MP4 with its moov first; ``mkv`` and ``ts``: the same
streams remuxed) is damaged ``--variants`` times per kind, each variant seeded by (seed,
container, kind, number), so a subset of kinds or a larger N repeats the same first variants:

- ``header-bits``: 24 single bits flipped in the index (MP4: the moov box; Matroska:
  everything before the first Cluster; MPEG-TS: the PAT, PMT and SDT packets);
- ``media-bytes``: 32 bytes XORed with random values in the media data (the mdat; the
  Clusters; the elementary streams' packets);
- ``truncate``: cut at a random point;
- ``zero-ranges``: one to four random ranges of up to 4 KiB zeroed.

Each variant is one attempt of the worker's own JobPipeline, in process and without AWS: a
local directory stands in for S3 (download, publish, commit); the rest is the worker's as
``handlers/runtime.py`` builds it from ``Settings()`` (the input guard, ffprobe's and
ffmpeg's kernel limits, the stall watchdog, the CPU tier): admitted, probed, pre-flighted,
planned, encoded, its outputs read back. The outcome: completed, or the FfapiError's code and
retryable flag; any other exception is a bug (the worker would retry it as internal_error).
A retryable outcome is what this looks for: the same bytes fail the same way on every
delivery, so the job goes round the queue into the DLQ instead of failing once.
``--timeout`` replaces the one-hour transcode timeout (a 2 s clip encodes in under a second
here): a variant that reaches it is reported as the worker would, transcode_timeout. The
``stretch`` column is the longest output of a completed job over the source's duration.
``--keep`` saves the variants that were retried or hit a bug, to replay them.
The defaults (240 variants) take about 2 minutes on 2 cores; 100 per kind, about 11.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.attempt.pipeline import JobPipeline, PipelineLimits
from core.errors import FfapiError, InputNotFound
from core.jobs.results import JobResult
from core.media.fallback import CpuOnly
from core.models import JobRequest, OutputLocation, S3ObjectRef
from core.ports import ObjectInfo
from core.presets import OutputPreset
from infra.ffmpeg import FfmpegMedia
from infra.logs import configure_logging
from infra.settings import Settings
from infra.workspace import LocalDiskFiles, LocalWorkspace

KINDS = ("header-bits", "media-bytes", "truncate", "zero-ranges")
CONTAINERS = {"mp4": "mp4", "mkv": "matroska", "ts": "mpegts"}  # extension -> muxer
INPUT, OUTPUT = "fuzz-input", "fuzz-output"
STRETCH = 1.5  # completed jobs whose output outlasts the source this much are listed
Span = tuple[int, int]


# --- the good clip and where its index and its media lie -----------------------------------


def make_clips(scratch: Path, containers: Sequence[str]) -> dict[str, bytes]:
    ffmpeg = ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    mp4 = scratch / "clip.mp4"
    subprocess.run([
        *ffmpeg, "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=15:duration=2",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-threads", "1",
        "-c:a", "aac", "-b:a", "64k", "-shortest", "-movflags", "+faststart",
        "-fflags", "+bitexact", f"file:{mp4}",
    ], check=True)  # fmt: skip
    clips = {}
    for ext in containers:
        dest = scratch / f"clip.{ext}"
        if ext != "mp4":  # the same streams, remuxed; bitexact: no random Matroska UIDs
            subprocess.run([*ffmpeg, "-i", f"file:{mp4}", "-map", "0", "-c", "copy",
                            "-fflags", "+bitexact", "-f", CONTAINERS[ext], f"file:{dest}"],
                           check=True)  # fmt: skip
        clips[ext] = dest.read_bytes()
    return clips


def layout(ext: str, data: bytes) -> tuple[list[Span], list[Span]]:
    """(the index's byte spans, the media data's)."""
    if ext == "mp4":
        boxes = {kind: (start, end) for kind, start, end in _top_boxes(data)}
        return [boxes[b"moov"]], [boxes[b"mdat"]]
    if ext == "mkv":
        cluster = data.index(b"\x1f\x43\xb6\x75")  # the first Cluster's element id
        return [(0, cluster)], [(cluster, len(data))]
    return _ts_spans(data)


def _top_boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, payload start, end) of each top-level MP4 box."""
    boxes, at = [], 0
    while at + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, at)
        header = 8
        if size == 1:
            size, header = struct.unpack_from(">Q", data, at + 8)[0], 16
        elif size == 0:
            size = len(data) - at
        boxes.append((kind, at + header, at + size))
        at += size
    return boxes


def _ts_spans(data: bytes) -> tuple[list[Span], list[Span]]:
    """The table packets (PAT, SDT, and the PMTs the PAT names) and the rest."""
    packets = [(at, (data[at + 1] & 0x1F) << 8 | data[at + 2]) for at in range(0, len(data), 188)]
    tables = {0x0000, 0x0011}
    pat = next(at for at, pid in packets if pid == 0)
    start = pat + 5 + data[pat + 4]  # after the header and the pointer field
    length = (data[start + 1] & 0x0F) << 8 | data[start + 2]
    for entry in range(start + 8, start + 3 + length - 4, 4):  # (program, pid); minus the CRC
        tables.add((data[entry + 2] & 0x1F) << 8 | data[entry + 3])
    spans: tuple[list[Span], list[Span]] = ([], [])
    for at, pid in packets:
        spans[pid not in tables].append((at, at + 188))
    return spans


# --- the damage ----------------------------------------------------------------------------


def _pick(rng: random.Random, spans: list[Span]) -> int:
    """A byte offset, uniform over the spans."""
    x = rng.randrange(sum(end - start for start, end in spans))
    for start, end in spans:
        if x < end - start:
            return start + x
        x -= end - start
    raise AssertionError("unreachable")


def damage(kind: str, data: bytes, spans: tuple[list[Span], list[Span]],
           rng: random.Random) -> bytes:  # fmt: skip
    out = bytearray(data)
    if kind == "header-bits":
        for _ in range(24):
            out[_pick(rng, spans[0])] ^= 1 << rng.randrange(8)
    elif kind == "media-bytes":
        for _ in range(32):
            out[_pick(rng, spans[1])] ^= rng.randrange(1, 256)
    elif kind == "truncate":
        del out[rng.randrange(1, len(out)) :]
    elif kind == "zero-ranges":
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(out))
            length = min(rng.randint(1, 4096), len(out) - at)
            out[at : at + length] = bytes(length)
    else:
        raise ValueError(kind)
    return bytes(out)


# --- S3's part of a job, on local disk -----------------------------------------------------


class DirectoryStore:
    """The ObjectStore port over a directory (``root/bucket/key``): no AWS in the loop."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, bucket: str, key: str) -> Path:
        return self.root / bucket / key

    async def head(self, ref: S3ObjectRef) -> ObjectInfo:
        if not (path := self.path(ref.bucket, ref.key)).is_file():
            raise InputNotFound(f"{ref.key} does not exist")
        return ObjectInfo(path.stat().st_size, None, None)

    async def download(self, ref: S3ObjectRef, dest: Path) -> None:
        await self.head(ref)
        shutil.copyfile(self.path(ref.bucket, ref.key), dest)

    async def upload_file(self, path: Path, bucket: str, key: str, content_type: str,
                          cache_control: str | None) -> None:  # fmt: skip
        await self.put_bytes(path.read_bytes(), bucket, key, content_type, cache_control)

    async def put_bytes(self, data: bytes, bucket: str, key: str, content_type: str,
                        cache_control: str | None) -> int:  # fmt: skip
        (path := self.path(bucket, key)).parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return len(data)

    async def put_new(self, data: bytes, bucket: str, key: str, content_type: str,
                      cache_control: str | None) -> bool:  # fmt: skip
        if self.path(bucket, key).exists():
            return False
        await self.put_bytes(data, bucket, key, content_type, cache_control)
        return True

    async def get_bytes(self, bucket: str, key: str, limit: int) -> bytes | None:
        path = self.path(bucket, key)
        return path.read_bytes()[:limit] if path.is_file() else None

    async def list_keys(self, bucket: str, prefix: str) -> list[str]:
        base = self.root / bucket
        keys = (p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
        return sorted(k for k in keys if k.startswith(prefix))

    async def delete_keys(self, bucket: str, keys: Sequence[str]) -> None:
        for key in keys:
            self.path(bucket, key).unlink(missing_ok=True)


# --- one attempt per variant ---------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    name: str  # container/kind/number
    seconds: float
    code: str | None = None  # None: completed
    retryable: bool = False
    bug: str | None = None  # the exception's type, when it was not an FfapiError
    message: str = ""
    tail: str = ""
    stretch: float = 0.0  # completed: the longest output over the source's probed duration


class Attempts:
    def __init__(self, settings: Settings, preset: OutputPreset, scratch: Path) -> None:
        limits = PipelineLimits(
            float(settings.transcode_timeout), settings.media_limits(), settings.ffmpeg_limits(),
            settings.transfer_concurrency, settings.progress_interval, settings.progress_step,
        )  # fmt: skip
        media = FfmpegMedia(settings.stall_seconds, settings.probe_limits())
        self.store = DirectoryStore(scratch / "s3")
        self.pipeline = JobPipeline(self.store, media, LocalDiskFiles(), limits,
                                    lambda: datetime.now(UTC), CpuOnly())  # fmt: skip
        self.workspace = LocalWorkspace(scratch / "jobs", settings.disk_headroom_factor)
        self.preset = preset
        self.count = 0

    async def run(self, name: str, data: bytes) -> Outcome:
        self.count += 1
        job_id, key = f"j-fuzz{self.count:06d}", f"incoming/{name}"
        await self.store.put_bytes(data, INPUT, key, "application/octet-stream", None)
        request = JobRequest(
            input=S3ObjectRef(bucket=INPUT, key=key, size=len(data)), preset=self.preset.name,
            output=OutputLocation(bucket=OUTPUT, prefix="outputs"),
        )  # fmt: skip
        started = time.perf_counter()
        try:
            self.pipeline.admit(request, self.preset)
            async with self.workspace.job_dir(job_id, len(data)) as jobdir:
                # a progress listener, as the dispatcher's: it arms the stall watchdog
                result = await self.pipeline.run(job_id, request, self.preset, jobdir, 1,
                                                 _ignore)  # fmt: skip
            outcome = Outcome(name, time.perf_counter() - started, stretch=_stretch(result))
        except FfapiError as exc:
            outcome = Outcome(name, time.perf_counter() - started, exc.code, exc.retryable,
                              message=exc.message, tail=exc.stderr_tail or "")  # fmt: skip
        except Exception as exc:  # the dispatcher would wrap it as internal_error, retryable
            outcome = Outcome(name, time.perf_counter() - started, "internal_error", True,
                              bug=type(exc).__name__, message=str(exc))  # fmt: skip
        shutil.rmtree(self.store.root / OUTPUT, ignore_errors=True)
        return outcome


def _ignore(_: object) -> None:
    pass


def _stretch(result: JobResult) -> float:
    """A damaged timestamp can make ffmpeg fill hours with copies of one frame: a job that
    completes that way still cost the hours."""
    lengths = [o.duration or 0.0 for o in result.outputs] + [r.duration for r in result.renditions]
    return max(lengths) / result.source.duration if result.source.duration > 0 else 0.0


# --- the report ----------------------------------------------------------------------------


def _counted(codes: Counter[str]) -> str:
    return ", ".join(f"{code} {n}" for code, n in codes.most_common()) or "-"


def print_table(outcomes: dict[tuple[str, str], list[Outcome]]) -> None:
    print(f"{'container':<9} {'kind':<12} {'variants':>8} {'completed':>9} {'bugs':>4} "
          f"{'slowest':>8} {'stretch':>7}  retryable (codes)  |  permanent (codes)")  # fmt: skip
    for (ext, kind), runs in outcomes.items():
        done = sum(o.code is None for o in runs)
        bugs = sum(o.bug is not None for o in runs)
        retried = Counter(o.code for o in runs if o.code and o.retryable and not o.bug)
        permanent = Counter(o.code for o in runs if o.code and not o.retryable)
        slowest = max(o.seconds for o in runs)
        stretch = max(o.stretch for o in runs)
        print(f"{ext:<9} {kind:<12} {len(runs):>8} {done:>9} {bugs:>4} {slowest:>7.2f}s "
              f"{stretch:>6.1f}x  {_counted(retried)}  |  {_counted(permanent)}")  # fmt: skip


_NUMBERS = re.compile(r"0x[0-9a-f]+|\d+")


def print_examples(permanent: list[Outcome]) -> None:
    """The first message of each permanent code: a refusal must blame the input rightly."""
    print("\npermanent codes, a first example of each:")
    for code in sorted({o.code for o in permanent if o.code}):
        first = next(o for o in permanent if o.code == code)
        print(f"  {code:<20} {first.name}: {first.message[:110]}")


def print_problems(problems: list[Outcome]) -> None:
    """Each distinct retryable message or bug once (numbers aside), with its variants."""
    groups: dict[tuple[str, ...], list[Outcome]] = defaultdict(list)
    for o in problems:
        last = o.tail.strip().splitlines()[-1] if o.tail.strip() else ""
        groups[(o.code or "", o.bug or "", _NUMBERS.sub("N", o.message),
                _NUMBERS.sub("N", last))].append(o)  # fmt: skip
    print(f"\n{len(problems)} retryable outcomes or bugs, {len(groups)} distinct:")
    for (code, bug, message, _), runs in groups.items():
        names = ", ".join(o.name for o in runs[:6]) + (", ..." if len(runs) > 6 else "")
        print(f"\n[{code}{' bug ' + bug if bug else ''}] x{len(runs)}: {message}\n  {names}")
        for line in (runs[0].tail or "(no stderr)").splitlines():
            print(f"    | {line}")


async def main(args: argparse.Namespace) -> None:
    configure_logging("CRITICAL")  # the pipeline's warnings would bury the table
    settings = Settings(transcode_timeout=args.timeout)
    preset = settings.presets().get(args.preset)
    if preset is None:
        raise SystemExit(f"no preset {args.preset!r}")
    outcomes: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="ffapi-fuzz-") as tmp:
        scratch = Path(tmp)
        clips = make_clips(scratch, args.containers)
        attempts = Attempts(settings, preset, scratch)
        for ext, clip in clips.items():
            digest = hashlib.sha256(clip).hexdigest()[:12]
            control = await attempts.run(f"{ext}/intact/0", clip)
            print(f"{ext}: {len(clip)} bytes, sha256 {digest}..., intact: "
                  f"{control.code or 'completed'} in {control.seconds:.2f}s")  # fmt: skip
            spans = layout(ext, clip)
            for kind in args.kinds:
                for number in range(args.variants):
                    rng = random.Random(f"{args.seed}/{ext}/{kind}/{number}")  # noqa: S311
                    name = f"{ext}/{kind}/{number}"
                    data = damage(kind, clip, spans, rng)
                    outcome = await attempts.run(name, data)
                    outcomes[(ext, kind)].append(outcome)
                    if args.keep and (outcome.retryable or outcome.bug):
                        args.keep.mkdir(parents=True, exist_ok=True)
                        (args.keep / f"{name.replace('/', '-')}.{ext}").write_bytes(data)
    print()
    print_table(outcomes)
    every = [o for runs in outcomes.values() for o in runs]
    print_examples([o for o in every if o.code and not o.retryable])
    print_problems([o for o in every if o.retryable or o.bug])
    if stretched := [o for o in every if o.stretch > STRETCH]:
        print(f"\ncompleted with an output over {STRETCH:g}x the source's duration: "
              + ", ".join(f"{o.name} {o.stretch:.1f}x" for o in stretched))  # fmt: skip


def _names(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        if unknown := [n for n in names if n not in allowed]:
            raise argparse.ArgumentTypeError(f"unknown: {', '.join(unknown)}; known: {allowed}")
        return names

    return parse


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=20, help="per container and kind")
    parser.add_argument("--seed", default="1")
    parser.add_argument("--kinds", type=_names(KINDS), default=list(KINDS))
    parser.add_argument("--containers", type=_names(list(CONTAINERS)), default=list(CONTAINERS))
    parser.add_argument("--preset", default="mp4-480p")
    parser.add_argument("--timeout", type=int, default=30, help="transcode timeout, seconds")
    parser.add_argument("--keep", type=Path, help="save retried and bug variants here")
    asyncio.run(main(parser.parse_args()))

"""What N workers would do with a 2-hour film split into chunks: a small discrete-event
simulation fed with the per-chunk times ``bench/split_fleet.py`` measured.

    .venv/bin/python bench/split_sim.py --measured /tmp/split-fleet.json [--film-seconds 7200]
        [--input-mbps 10] [--s3-mb-per-s N] [--workers 1,2,4,8,16,32,64,100]

The model follows what a split job does today (``core.jobs.chunk_fanout``,
``core.attempt.chunk_run``, ``chunk_media``):

- the parent: picked up (one SQS round trip), the input's index and opening seconds read
  (asked to split; ``--by-length``: the whole input, downloaded before its length was
  known, and kept) and probed, the chunk plan written and one message per chunk sent (8 at
  a time), the audio chunk first when it outlasts a picture chunk, else last;
- every chunk, on the first free worker, in the order sent: picked up, its input read
  unless that worker holds the whole of it (the parent's download, kept:
  ``infra.source_copies``; the probe is the parent's, carried in the plan): a picture
  chunk reads only its window (its range, ``BEFORE`` and ``AFTER`` it and the opening
  seconds: ``infra.source_index``), the audio chunk the whole input (then kept;
  ``--sound-apart``: its sound alone, a request a second, for a film of at most
  ``MAX_RUNS`` seconds); its range
  encoded (after a warm-up of ``WARMUP_SECONDS``, thrown away), its segments uploaded, its
  ending written;
- the audio chunk encodes the whole film's sound (and a 32x18 stand-in picture);
- the worker whose chunk ends last stitches (its input already there): every segment of
  every rung fetched back from
  the bucket, the manifests rebuilt, the whole encode's finish and QC (ffprobe over every
  segment), the storyboard's sheets, the manifests and ``job.json`` uploaded.

Measured on a shared host, the CPU-bound costs are scaled to an idle core (:func:`core_share`).

Each cost is the measured one scaled by content seconds (encode: seconds of encode per
second of picture encoded, warm-up included; the audio part's and the stitch's per second of
film) or by bytes (downloads and fetches at the measured S3 throughput). The input's size
is ``--input-mbps`` (a 1080p mezzanine) times the film's length. It prints the total for
each worker count at its best chunk length, what bounds it, and where doubling the workers
stops paying (under 10 % faster).
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.jobs.chunk_fanout import AFTER, AUDIO_SPEED, BEFORE
from core.streaming.ranges import WARMUP_SECONDS
from infra.source_index import MAX_RUNS, OPENING_SECONDS

WARMUP = WARMUP_SECONDS  # encoded before every range but the first
MAX_CHUNKS = 400  # core.jobs.chunk_model
CHUNK_LENGTHS = (20, 32, 60, 120, 300, 600, 1200)
SENDS_AT_ONCE = 8
HEAD_SHARE = 0.001  # the index (moov) of an MP4: ~5 MB of a 9 GB film
ASKED = True  # --by-length: False
SOUND_APART = False  # --sound-apart: the input interleaved by the second
SOUND_MBPS = 0.192  # its sound track
INPUT_MBPS = 10.0  # --input-mbps
GET_S, GETS = 0.02, 8  # a ranged GET's latency on S3, and how many at once


@dataclass(frozen=True)
class Costs:
    """Seconds, from one measured run (see ``from_measured``)."""

    pickup: float  # an SQS message to a polling worker
    s3_bytes_per_s: float
    probe: float
    encode_per_s: float  # a range's encode per second of picture encoded (warm-up in)
    upload_per_s: float  # a range's upload per second of its picture
    audio_per_s: float  # the audio part's encode per second of film
    finish_per_s: float  # the stitch's finish and QC per second of film (its fetch apart)
    output_bytes_per_s: float  # the package's bytes per second of film
    ending: float  # a chunk's ending written (one DynamoDB write)


def from_measured(m: dict[str, Any], s3_mb_per_s: float | None) -> Costs:
    seconds, chunk = float(m["seconds"]), float(m["chunk_seconds"])
    chunks = m["chunks"]
    audio = max(chunks, key=lambda c: c["chunk"])
    video = [c for c in chunks if c is not audio]
    lengths = [min(chunk, seconds - c["chunk"] * chunk) for c in video]
    encoded = [n + (WARMUP if c["chunk"] else 0) for c, n in zip(video, lengths, strict=True)]
    s3 = (s3_mb_per_s or m["s3_mb_per_s"]) * 1e6
    out_bytes = float(m["output_bytes"])
    stitch = next(c for c in chunks if "package" in c)
    fetch = out_bytes / s3
    share = core_share(m)
    return Costs(
        pickup=m["sqs_roundtrip_s"], s3_bytes_per_s=s3,
        probe=m["whole_timings"].get("probe", 0.2),
        encode_per_s=share * sum(c["encode"] for c in video) / sum(encoded),
        upload_per_s=sum(c["upload"] for c in video if c is not stitch) / max(1.0, sum(
            n for c, n in zip(video, lengths, strict=True) if c is not stitch)),
        audio_per_s=share * audio["encode"] / seconds,
        finish_per_s=share * max(0.0, stitch["package"] - fetch) / seconds,
        output_bytes_per_s=out_bytes / seconds, ending=m["sqs_roundtrip_s"],
    )  # fmt: skip


def core_share(m: dict[str, Any]) -> float:
    """The share of its pinned core the whole job's worker got (its CPU seconds over its
    wall seconds): on a shared host the measured encode times are this much longer than an
    idle core's, so the CPU-bound costs are scaled by it (1: measured on idle cores)."""
    cpu = m.get("whole_cpu_s")
    return min(1.0, cpu / m["whole_s"]) if cpu else 1.0


@dataclass(frozen=True)
class Outcome:
    total: float
    parent: float
    chunks_end: float  # when the last chunk ended (from the parent's end)
    audio: float  # the audio chunk's own length
    stitch: float


def simulate(c: Costs, film: float, input_bytes: float, workers: int, length: float,
             other_order: bool = False) -> Outcome:  # fmt: skip
    download = input_bytes / c.s3_bytes_per_s
    n = math.ceil(film / length)
    tasks: list[tuple[float, float]] = []  # (its input read without a copy, its work)
    for i in range(n):
        picture = min(length, film - i * length)
        encode = c.encode_per_s * (picture + (WARMUP if i else 0))
        window = min(1.0, (picture + BEFORE + AFTER + OPENING_SECONDS) / film)
        tasks.append((download * window, encode + c.upload_per_s * picture + c.ending))
    # the sound read apart (an input interleaved by the second): its bytes, a request a second
    sound = download * min(1.0, HEAD_SHARE + SOUND_MBPS / INPUT_MBPS) + film * GET_S / GETS
    apart = SOUND_APART and film <= MAX_RUNS  # a run a second, as many as the plan keeps
    audio = (sound if apart else download, c.audio_per_s * film + c.ending)
    audio_first = (film > AUDIO_SPEED * length) != other_order  # core.jobs.chunk_fanout
    tasks = [audio, *tasks] if audio_first else [*tasks, audio]
    # asked to split (``split: true``), the parent reads the index and the opening seconds;
    # split by its length, it has downloaded the whole input before it knew
    head = download * min(1.0, HEAD_SHARE + OPENING_SECONDS / film) if ASKED else download
    parent = c.pickup + head + c.probe + math.ceil((n + 1) / SENDS_AT_ONCE) * c.pickup
    free = [(0.0, w) for w in range(workers)]  # each worker's next free time, from the parent's end
    heapq.heapify(free)
    copies = set() if ASKED else {0}  # the workers holding the whole input
    ends = []
    for k, (read, work) in enumerate(tasks):
        sent = (k // SENDS_AT_ONCE) * c.pickup
        ready, worker = heapq.heappop(free)
        start = max(ready, sent) + c.pickup
        ends.append(start + (0.0 if worker in copies else read) + work)
        if read == download:  # read whole: kept
            copies.add(worker)
        heapq.heappush(free, (ends[-1], worker))
    fetch = c.output_bytes_per_s * film / c.s3_bytes_per_s  # the input is there already
    stitch = fetch + c.finish_per_s * film
    last = max(ends)
    return Outcome(parent + last + stitch, parent, last, audio[1], stitch)


def best(c: Costs, film: float, input_bytes: float, workers: int,
         other_order: bool = False) -> tuple[float, Outcome]:  # fmt: skip
    lengths = [x for x in CHUNK_LENGTHS if math.ceil(film / x) <= MAX_CHUNKS]
    runs = [(x, simulate(c, film, input_bytes, workers, x, other_order)) for x in lengths]
    return min(runs, key=lambda r: r[1].total)


def main(args: argparse.Namespace) -> None:
    global ASKED, SOUND_APART, INPUT_MBPS
    ASKED, SOUND_APART, INPUT_MBPS = not args.by_length, args.sound_apart, args.input_mbps
    measured = json.loads(Path(args.measured).read_text())
    c = from_measured(measured, args.s3_mb_per_s)
    print(
        f"measured encode times scaled by {core_share(measured):.2f} (the share of a core "
        "the whole job's worker got)"
    )
    film, input_bytes = args.film_seconds, args.input_mbps * 1e6 / 8 * args.film_seconds
    print(
        f"{film / 3600:g} h film, input {input_bytes / 1e9:.1f} GB ({args.input_mbps:g} Mbit/s),"
        f" S3 {c.s3_bytes_per_s / 1e6:.0f} MB/s, SQS pickup {c.pickup * 1000:.0f} ms"
    )
    print(
        f"per second of picture: encode {c.encode_per_s:.3f} s (one core), upload "
        f"{c.upload_per_s:.4f} s; audio part {c.audio_per_s:.4f} s/s; stitch finish+QC "
        f"{c.finish_per_s:.4f} s/s, package {c.output_bytes_per_s / 1e6:.2f} MB/s of film"
    )
    print(
        "| workers | best chunk s | total s | parent s | chunks end s | audio chunk s "
        "| stitch s | audio sent in the other order: total s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    previous = None
    stops = None
    for w in args.workers:
        length, o = best(c, film, input_bytes, w)
        _, last_ = best(c, film, input_bytes, w, other_order=True)
        print(f"| {w} | {length:g} | {o.total:.0f} | {o.parent:.0f} | {o.chunks_end:.0f} "
              f"| {o.audio:.0f} | {o.stitch:.0f} | {last_.total:.0f} |")  # fmt: skip
        if previous is not None and stops is None and o.total > 0.9 * previous:
            stops = w
        previous = o.total
    if stops:
        print(f"doubling the workers stops paying (under 10 % faster) at {stops}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measured", required=True, help="bench/split_fleet.py --json's file")
    parser.add_argument("--film-seconds", type=float, default=7200.0)
    parser.add_argument("--input-mbps", type=float, default=10.0)
    parser.add_argument("--s3-mb-per-s", type=float, default=None)
    parser.add_argument(
        "--by-length", action="store_true",
        help="the job split by its length: its parent downloads the whole input",
    )  # fmt: skip
    parser.add_argument(
        "--sound-apart", action="store_true",
        help="the input interleaved by the second: the audio chunk reads its sound alone",
    )  # fmt: skip
    parser.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 2, 4, 8, 16, 32, 64, 100])  # fmt: skip
    main(parser.parse_args())

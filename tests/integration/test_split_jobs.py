"""One long job across many workers, end to end on the embedded stack (moto's server over
HTTP, the real ffmpeg, our worker): a 24 s clip sent with ``split: true`` and 10 s chunks
is split into three picture chunks (0-12, 12-20, 20-24 s: a thumbnail and a tile in the
second's warm-up, and on the third's first frame) and the audio, each a sub-job of the
queue; the worker that ends the last stitches and commits. One ``job.completed`` (no event
names a chunk), the package passes the whole encode's QC (its picture checks too), and its
segments, init segments, manifests, thumbnails, poster and storyboard are named and counted
as those of the same job encoded whole; no storyboard tile is left in the bucket."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from core.jobs.chunk_model import ChunkPlan, is_chunk
from handlers.runtime import Runtime
from infra import source_index
from infra.source_copies import LinkedSourceCopies
from infra.source_index import Mp4SourceIndex

from .conftest import Stack, run_worker

pytestmark = pytest.mark.integration

SECONDS = 24
LADDER = [
    {"name": n, "short_side": side, "video_kbps": kbps, "maxrate_kbps": kbps, "bufsize_kbps": kbps}
    for n, side, kbps in (("360p", 360, 800), ("240p", 240, 400))
]


def make_clip(dest: Path) -> Path:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
         "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=30:duration={SECONDS}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={SECONDS}",
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-shortest", f"file:{dest}"],
        check=True,
    )  # fmt: skip
    return dest


def request(stack: Stack, prefix: str, split: bool) -> dict[str, Any]:
    return {
        "version": 2, "input": {"bucket": stack.settings.input_bucket, "key": "long/clip.mp4"},
        "preset": "web-hls", "ladder": LADDER, "split": split,
        "output": {"bucket": stack.settings.output_bucket, "prefix": prefix},
    }  # fmt: skip


def package_names(stack: Stack, prefix: str) -> list[str]:
    s3 = stack.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=stack.settings.output_bucket, Prefix=f"{prefix}/"
    )
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    return sorted(k.removeprefix(f"{prefix}/") for k in keys)


def test_a_split_job_ends_in_one_package_as_the_whole_encode_makes(
    stack: Stack, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "clip.mp4")
    stack.client("s3").upload_file(str(clip), stack.settings.input_bucket, "long/clip.mp4")
    settings = stack.settings.model_copy(
        update={"split_chunk_seconds": 10.0, "visibility_timeout": 120}
    )

    async def send(rt: Runtime) -> None:
        url = stack.resources.queue_url
        for body in (request(stack, "outputs/split", True), request(stack, "outputs/whole", False)):
            await rt.clients.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))

    with capture_logs() as logs:
        scenario = run_worker(stack, send, terminal=2, settle=3.0, timeout=300.0, settings=settings)
    assert scenario.of_type("failed") == []
    # the parent read only the input's head (index, opening seconds); each picture chunk
    # linked a copy this worker kept (the audio chunk's whole download) or read its window
    [head] = [e for e in logs if e["event"] == "source.head"]
    assert head["bytes"] < head["of"] / 2
    read = [e for e in logs if e["event"] in ("source.linked", "source.spans")]
    assert len(read) == 3
    done = scenario.of_type("completed")
    assert len(done) == 2
    assert not [e for e in scenario.events + scenario.progress if is_chunk(e["subject"])]
    by_prefix = {e["data"]["output"]["prefix"]: e["data"] for e in done}
    split, whole = by_prefix["outputs/split"], by_prefix["outputs/whole"]
    assert split["qc"]["passed"], split["qc"]
    assert [r["name"] for r in split["renditions"]] == [r["name"] for r in whole["renditions"]]
    assert set(split["playback"]) == {"hls", "dash"}
    # the same package, file for file
    split_names = package_names(stack, f"outputs/split/{split['job_id']}")
    whole_names = package_names(stack, f"outputs/whole/{whole['job_id']}")
    media = [n for n in whole_names if n.startswith("cmaf/")]
    assert [n for n in split_names if n.startswith("cmaf/")] == media
    assert len([n for n in media if n.startswith("cmaf/seg-0-")]) == SECONDS // 4
    assert {"job.json", "probe.json"} <= set(split_names)
    pictures = [n for n in whole_names if n.startswith("thumbnails/")]
    assert [n for n in split_names if n.startswith("thumbnails/")] == pictures
    assert len([n for n in pictures if n.startswith("thumbnails/thumb-")]) == 3  # 0, 10, 20 s
    assert {"thumbnails/poster.jpg", "thumbnails/storyboard.vtt"} <= set(pictures)
    assert not [n for n in split_names if n.startswith(".storyboard-tiles/")]
    s3 = stack.client("s3")
    vtt = {
        name: s3.get_object(Bucket=stack.settings.output_bucket,
                            Key=f"outputs/{name}/{d['job_id']}/thumbnails/storyboard.vtt")
        ["Body"].read()
        for name, d in (("split", split), ("whole", whole))
    }  # fmt: skip
    assert vtt["split"] == vtt["whole"]
    assert vtt["split"].decode().count("#xywh=") == 5  # a tile every 5 s
    assert {o["role"] for o in split["outputs"]} >= {"thumbnail", "storyboard"}
    # the parent's record says it was split, and into how many chunks
    record = stack.client("dynamodb").get_item(
        TableName=stack.settings.jobs_table, Key={"job_id": {"S": split["job_id"]}}
    )["Item"]
    assert record["status"]["S"] == "COMPLETED"
    assert int(record["chunk_total"]["N"]) == 3 + 1
    # the plan carries the parent's probe: no chunk probed the input again
    plan = ChunkPlan.unpacked(record["chunk_plan"]["B"])
    assert plan.probe is not None
    assert {s.codec_type for s in plan.probe.streams} == {"video", "audio"}


def rendition(stack: Stack, prefix: str, dest: Path) -> Path:
    """The first rung as a player reads it: its init segment, then its media segments."""
    s3, bucket = stack.client("s3"), stack.settings.output_bucket
    segments = [n for n in package_names(stack, prefix) if n.startswith("cmaf/seg-0-")]
    with dest.open("wb") as out:
        for name in ["cmaf/init-0.m4s", *segments]:
            out.write(s3.get_object(Bucket=bucket, Key=f"{prefix}/{name}")["Body"].read())
    return dest


def psnr_per_frame(a: Path, b: Path, log: Path) -> list[float]:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-i", f"file:{a}",
         "-i", f"file:{b}", "-lavfi", f"[0:v][1:v]psnr=stats_file={log.name}", "-f", "null",
         "-"], cwd=log.parent, check=True,
    )  # fmt: skip
    return [
        float(dict(kv.split(":") for kv in line.split())["psnr_avg"].replace("inf", "99"))
        for line in log.read_text().splitlines()
    ]


def test_chunks_without_the_input_read_only_their_part_of_it(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every chunk on a worker that does not hold the input (here: none is kept) downloads
    only its window of it, a sparse file; the package decodes as the whole encode's does,
    frame for frame (no frame decoded from a hole: a window too short would show here)."""
    clip = make_clip(tmp_path / "clip.mp4")
    stack.client("s3").upload_file(str(clip), stack.settings.input_bucket, "long/clip.mp4")
    monkeypatch.setattr(LinkedSourceCopies, "link", _none_kept)
    monkeypatch.setattr(source_index, "MOST", 0.95)  # a small clip: its windows are most of it
    settings = stack.settings.model_copy(
        update={"split_chunk_seconds": 10.0, "visibility_timeout": 120}
    )

    async def send(rt: Runtime) -> None:
        url = stack.resources.queue_url
        for body in (
            request(stack, "outputs/ranged-split", True),
            request(stack, "outputs/ranged-whole", False),
        ):
            await rt.clients.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))

    with capture_logs() as logs:
        scenario = run_worker(stack, send, terminal=2, settle=3.0, timeout=300.0, settings=settings)
    assert scenario.of_type("failed") == [], [
        e["data"]["error"] for e in scenario.of_type("failed")
    ]
    ranged = [e for e in logs if e["event"] == "source.spans"]
    # the picture chunks their windows; the audio chunk reads it whole (ffmpeg interleaves
    # the clip by the frame: test_source_spans reads a sound by itself)
    assert len(ranged) == 3
    assert all(e["bytes"] < e["of"] for e in ranged)
    by_prefix = {e["data"]["output"]["prefix"]: e["data"] for e in scenario.of_type("completed")}
    split, whole = by_prefix["outputs/ranged-split"], by_prefix["outputs/ranged-whole"]
    assert split["qc"]["passed"], split["qc"]
    ours = rendition(stack, f"outputs/ranged-split/{split['job_id']}", tmp_path / "split.mp4")
    theirs = rendition(stack, f"outputs/ranged-whole/{whole['job_id']}", tmp_path / "whole.mp4")
    psnr = psnr_per_frame(ours, theirs, tmp_path / "psnr.log")
    assert len(psnr) == SECONDS * 30
    assert min(psnr) > 30, min(psnr)  # two encodes of the same frames, not of a hole
    # the sound: the audio chunk's encode of the samples it read is the whole encode's
    sounds = [
        package_names(stack, f"outputs/ranged-{name}/{d['job_id']}")
        for name, d in (("split", split), ("whole", whole))
    ]
    assert [n for n in sounds[0] if n.startswith("cmaf/seg-2-")] == [
        n for n in sounds[1] if n.startswith("cmaf/seg-2-")
    ]
    s3, bucket = stack.client("s3"), stack.settings.output_bucket
    for name in (n for n in sounds[0] if n.startswith("cmaf/seg-2-")):
        got = [
            s3.get_object(Bucket=bucket, Key=f"outputs/ranged-{k}/{d['job_id']}/{name}")[
                "Body"
            ].read()
            for k, d in (("split", split), ("whole", whole))
        ]
        assert got[0] == got[1], name


async def _none_kept(self: LinkedSourceCopies, ref: object, dest: Path) -> bool:
    return False


def test_a_job_read_in_part_to_be_split_that_cannot_be_reads_the_rest_and_runs_whole(
    stack: Stack, tmp_path: Path
) -> None:
    """``split: true`` on a package of no picture (``audio-only``): the parent reads the
    input's head to split it, finds nothing to split, downloads the rest, and makes the
    whole package: its sound lasts the input's length."""
    clip = make_clip(tmp_path / "clip.mp4")
    stack.client("s3").upload_file(str(clip), stack.settings.input_bucket, "long/clip.mp4")
    body = {**request(stack, "outputs/audio", True), "preset": "audio-only"}
    body.pop("ladder")

    async def send(rt: Runtime) -> None:
        await rt.clients.sqs.send_message(
            QueueUrl=stack.resources.queue_url, MessageBody=json.dumps(body)
        )

    with capture_logs() as logs:
        scenario = run_worker(stack, send, terminal=1, settle=1.0, timeout=120.0)
    assert [e["event"] for e in logs if e["event"].startswith("source.")] == ["source.head"]
    [done] = scenario.of_type("completed")
    prefix = f"outputs/audio/{done['data']['job_id']}"
    s3, bucket = stack.client("s3"), stack.settings.output_bucket
    names = package_names(stack, prefix)
    track = tmp_path / "audio.mp4"
    with track.open("wb") as out:
        for name in ["cmaf/init-0.m4s", *(n for n in names if n.startswith("cmaf/seg-0-"))]:
            out.write(s3.get_object(Bucket=bucket, Key=f"{prefix}/{name}")["Body"].read())
    decoded = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
         f"file:{track}"], capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert abs(float(decoded.stdout) - SECONDS) < 0.1


def test_a_head_that_does_not_probe_is_read_whole(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should ffprobe not read the input's head alone (here: the head is made unreadable),
    the parent downloads the whole input and probes it again: the job is split and ends as
    any other, rather than failing on a file that was never bad."""
    clip = make_clip(tmp_path / "clip.mp4")
    stack.client("s3").upload_file(str(clip), stack.settings.input_bucket, "long/clip.mp4")

    async def unreadable(self: Mp4SourceIndex, ref: object, dest: Path) -> bool:
        dest.write_bytes(bytes(4096))
        return True

    monkeypatch.setattr(Mp4SourceIndex, "fetch_head", unreadable)
    settings = stack.settings.model_copy(
        update={"split_chunk_seconds": 10.0, "visibility_timeout": 120}
    )

    async def send(rt: Runtime) -> None:
        body = json.dumps(request(stack, "outputs/unread", True))
        await rt.clients.sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=body)

    scenario = run_worker(stack, send, terminal=1, settle=1.0, timeout=300.0, settings=settings)
    assert scenario.of_type("failed") == []
    [done] = scenario.of_type("completed")
    assert done["data"]["qc"]["passed"]
    record = stack.client("dynamodb").get_item(
        TableName=stack.settings.jobs_table, Key={"job_id": {"S": done["data"]["job_id"]}}
    )["Item"]
    assert int(record["chunk_total"]["N"]) == 3 + 1  # split all the same

"""S3 upload -> S3's own notification -> SQS -> worker -> ffmpeg -> S3 -> SNS -> subscriber."""

from __future__ import annotations

import asyncio
import json
import struct
import subprocess
from pathlib import Path

import pytest

from core.media.probe import public_probe
from infra.ffmpeg import FfmpegMedia

from .conftest import Stack, drain_events, job_record, run_worker, subscribe_queue

pytestmark = pytest.mark.integration


def top_level_boxes(data: bytes) -> list[str]:
    """The ISO-BMFF top-level box types in file order."""
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:  # 64-bit size follows the type
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        boxes.append(kind.decode("latin-1"))
        if size < 8:
            break
        offset += size
    return boxes


def ffprobe_duration(path: Path) -> float:
    doc = asyncio.run(FfmpegMedia().probe(path))
    return float(doc.format.duration or "nan")


def test_upload_into_watched_prefix_completes_the_job(
    stack: Stack, sample_clip: Path, tmp_path: Path
) -> None:
    s3 = stack.client("s3")
    settings = stack.settings
    key = f"{settings.watch_prefix}my clip+1.mp4"  # S3 will URL-encode it in the event
    s3.upload_file(str(sample_clip), settings.input_bucket, key)
    # Subscribers filter on the message attributes: this one wants mp4-720p completions only.
    ours = subscribe_queue(stack, {"preset": ["mp4-720p"], "type": ["ffapi.job.completed"]})
    others = subscribe_queue(stack, {"preset": ["web-hls"]})

    scenario = run_worker(stack)

    assert [e["type"] for e in drain_events(stack, ours)] == ["ffapi.job.completed"]
    assert drain_events(stack, others) == []
    assert [e["type"] for e in scenario.events] == [
        "ffapi.job.received",
        "ffapi.job.started",
        "ffapi.job.completed",
    ]
    completed = scenario.of_type("completed")[0]
    assert completed["specversion"] == "1.0"
    data = completed["data"]
    job_id = completed["subject"]
    assert data["job_id"] == job_id
    assert data["input"]["bucket"] == settings.input_bucket
    assert data["input"]["key"] == key
    assert data["encoder"] == "libx264"
    assert set(data["timings"]) >= {"download", "probe", "encode", "package", "upload"}

    # Every output listed exists, with its content type, under {prefix}/{job id}/.
    prefix = f"{settings.output_prefix}/{job_id}/"
    listed = {o["key"]: o for o in data["outputs"]}
    assert set(listed) == {prefix + n for n in ("video.mp4", "poster.jpg", "probe.json")}
    for obj_key, output in listed.items():
        head = s3.head_object(Bucket=settings.output_bucket, Key=obj_key)
        assert head["ContentLength"] == output["size"] > 0
        assert head["ContentType"] == output["content_type"]

    # job.json is the committed result and says what the event says.
    job_json = json.loads(
        s3.get_object(Bucket=settings.output_bucket, Key=prefix + "job.json")["Body"].read()
    )
    assert job_json == data | {"job_id": job_id}

    # probe.json is ffprobe's view of the source.
    probe_json = json.loads(
        s3.get_object(Bucket=settings.output_bucket, Key=prefix + "probe.json")["Body"].read()
    )
    local = public_probe(asyncio.run(FfmpegMedia().probe(sample_clip)))
    assert probe_json == local  # the same facts, without our temp path or metadata tags
    assert "filename" not in probe_json["format"]

    # The MP4 decodes end to end, keeps the duration, and starts with its moov (faststart).
    video = tmp_path / "video.mp4"
    s3.download_file(settings.output_bucket, prefix + "video.mp4", str(video))
    decode = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-xerror", "-i", str(video), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert decode.returncode == 0, decode.stderr
    assert decode.stderr == ""
    assert abs(ffprobe_duration(video) - ffprobe_duration(sample_clip)) <= 0.1
    boxes = top_level_boxes(video.read_bytes())
    assert boxes.index("moov") < boxes.index("mdat")  # +faststart: playable while downloading
    streams = {s.codec_type: s for s in asyncio.run(FfmpegMedia().probe(video)).streams}
    assert streams["video"].codec_name == "h264"
    assert (streams["video"].width, streams["video"].height) == (1280, 720)
    assert streams["audio"].codec_name == "aac"
    assert streams["audio"].channels == 2

    # The job record is COMPLETED, and the queues are empty: the message was deleted.
    record = job_record(stack, job_id)
    assert record["status"]["S"] == "COMPLETED"
    assert record["attempts"]["N"] == "1"
    assert stack.queue_depth(stack.resources.queue_url) == 0
    assert stack.queue_depth(stack.resources.dlq_url) == 0


def test_non_media_upload_fails_once_and_is_not_retried(stack: Stack) -> None:
    s3 = stack.client("s3")
    settings = stack.settings
    key = f"{settings.watch_prefix}notes.mp4"
    s3.put_object(Bucket=settings.input_bucket, Key=key, Body=b"these are meeting notes\n" * 100)
    failures_only = subscribe_queue(stack, filter_policy={"status": ["failed"]})

    # Wait longer than a retry would take to come back, to prove none does.
    scenario = run_worker(stack, settle=4.0)

    # A subscriber filtering on the `status` message attribute gets the failure alone.
    filtered = drain_events(stack, failures_only)
    assert [e["type"] for e in filtered] == ["ffapi.job.failed"]

    failed = scenario.of_type("failed")
    assert len(failed) == 1
    error = failed[0]["data"]["error"]
    assert error["code"] == "invalid_media"
    assert error["retryable"] is False
    assert "Invalid data found" in error["stderr_tail"]
    assert scenario.of_type("completed") == []
    assert len(scenario.of_type("started")) == 1

    job_id = failed[0]["subject"]
    record = job_record(stack, job_id)
    assert record["status"]["S"] == "FAILED"
    assert record["attempts"]["N"] == "1"
    assert stack.queue_depth(stack.resources.queue_url) == 0
    assert stack.queue_depth(stack.resources.dlq_url) == 0
    listing = s3.list_objects_v2(Bucket=settings.output_bucket)
    assert listing.get("KeyCount", 0) == 0  # nothing published for a failed job


def test_a_playlist_that_points_at_local_files_is_refused(stack: Stack) -> None:
    s3, settings = stack.client("s3"), stack.settings
    playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:/etc/passwd\n#EXT-X-ENDLIST\n"
    s3.put_object(
        Bucket=settings.input_bucket, Key=f"{settings.watch_prefix}clip.mp4", Body=playlist
    )

    scenario = run_worker(stack, settle=2.0)

    [failed] = scenario.of_type("failed")
    error = failed["data"]["error"]
    assert error["code"] == "unsupported_format"
    assert error["retryable"] is False
    assert "not on whitelist" in error["stderr_tail"]
    assert stack.queue_depth(stack.resources.queue_url) == 0


# Unusual but valid sources, each made by ffmpeg: (name, input args, output args).
ODD_SOURCES = {
    # 0.5 s of picture in a 4 s file: the poster must come from the picture.
    "short-video-long-audio.mp4": (
        ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=15:duration=0.5",
         "-f", "lavfi", "-i", "sine=duration=4"],
        ["-c:v", "libx264", "-c:a", "aac"],
    ),
    # Motion JPEG in AVI, as cameras and webcams write it.
    "camera.avi": (
        ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15:duration=2",
         "-f", "lavfi", "-i", "sine=duration=2"],
        ["-c:v", "mjpeg", "-c:a", "pcm_s16le"],
    ),
    # A live-muxed WebM (as a browser's MediaRecorder writes it): no duration in the header.
    "recording.webm": (
        ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=15:duration=2"],
        ["-c:v", "libvpx", "-deadline", "realtime", "-live", "1"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(ODD_SOURCES))
def test_unusual_but_valid_sources_complete(stack: Stack, tmp_path: Path, name: str) -> None:
    inputs, codecs = ODD_SOURCES[name]
    source = tmp_path / name
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", *inputs, *codecs, str(source)], check=True)
    settings = stack.settings
    key = f"{settings.watch_prefix}{name}"
    stack.client("s3").upload_file(str(source), settings.input_bucket, key)

    scenario = run_worker(stack)

    assert [e["data"]["error"] for e in scenario.of_type("failed")] == []
    [done] = scenario.of_type("completed")
    outputs = {o["role"]: o for o in done["data"]["outputs"]}
    assert outputs["video"]["duration"] > 0
    assert outputs["poster"]["size"] > 0

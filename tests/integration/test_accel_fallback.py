"""GPU first, CPU always, proved without a GPU: Debian's ffmpeg has NVENC, NVDEC and the CUDA
filters compiled in, and fails for real here with ``Cannot load libcuda.so.1``.

Where the real binary cannot fail the way a GPU host does (mid-encode, after writing part
of the package), a fake ``ffmpeg`` placed first on PATH fails the GPU argv as a GPU would
and hands every other argv to the real binary.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.settings import Settings

from .conftest import Scenario, Stack, job_record, run_worker, use_tools_for_test

pytestmark = pytest.mark.integration

FAKE = '''#!{python}
"""A GPU that fails: {mode}. Logs every argv; anything not on a GPU tier runs the real ffmpeg."""
import json, os, sys
argv = sys.argv[1:]
with open({log!r}, "a") as f:
    f.write(json.dumps(argv) + "\\n")
on_gpu = "-hwaccel" in argv or any(a.endswith("_nvenc") for a in argv)
if on_gpu and {mode!r} == "cuda-midway":
    # part of a package, where the real run writes it, then a CUDA error
    out = [a[5:] for a in argv if a.startswith("file:") and a.endswith("manifest.mpd")][0]
    package = os.path.dirname(out)
    for name in ("seg-0-00099.m4s", "manifest.mpd"):
        with open(os.path.join(package, name), "wb") as f:
            f.write(b"partial" * 1000)
    with open(os.path.join(package, "..", "thumbnails", "thumb-00042.jpg"), "wb") as f:
        f.write(b"partial")
    sys.stderr.write(
        "[h264_nvenc @ 0x55d1c2] Lookahead enabled: depth 20, scenecut disabled\\n"
        "[AVHWFramesContext @ 0x55d1c3] cu->cuMemAlloc(&data, size) failed "
        "-> CUDA_ERROR_OUT_OF_MEMORY: out of memory\\n"
        "Error while filtering: Cannot allocate memory\\n"
    )
    sys.exit(1)
if on_gpu and {mode!r} == "corrupt":
    sys.stderr.write(
        "[h264 @ 0x5612] Invalid NAL unit size (1207 > 1024).\\n"
        "[h264 @ 0x5612] Error splitting the input into NAL units.\\n"
        "Error while decoding stream #0:0: Invalid data found when processing input\\n"
    )
    sys.exit(1)
os.execv({real!r}, [{real!r}, *argv])
'''


def fake_ffmpeg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str) -> Path:
    """Make the fake the ffmpeg that runs; return the log of the argv it was given."""
    real = shutil.which("ffmpeg")
    assert real is not None
    bindir, log = tmp_path / "fakebin", tmp_path / "ffmpeg-calls.jsonl"
    bindir.mkdir()
    script = bindir / "ffmpeg"
    script.write_text(FAKE.format(python=sys.executable, mode=mode, log=str(log), real=real))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    use_tools_for_test(monkeypatch, ffmpeg=str(script))
    return log


def encodes(log: Path) -> list[list[str]]:
    """The job's ffmpeg runs (not the capability probe's listings or its test encode)."""
    if not log.exists():
        return []
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return [
        c
        for c in calls
        if "-filter_complex" in c
        and "accel-check" not in " ".join(c)
        and not any("ffapi-accel-" in a for a in c)
    ]


def upload(stack: Stack, clip: Path, name: str = "clip.mp4") -> str:
    key = f"{stack.settings.watch_prefix}{name}"
    stack.client("s3").upload_file(str(clip), stack.settings.input_bucket, key)
    return key


def run(stack: Stack, **changes: Any) -> Scenario:
    settings: Settings = stack.settings.model_copy(update=changes)
    return run_worker(stack, settings=settings, settle=2.0)


def job_json(stack: Stack, data: dict[str, Any]) -> dict[str, Any]:
    key = f"{stack.settings.output_prefix}/{data['job_id']}/job.json"
    body = stack.client("s3").get_object(Bucket=stack.settings.output_bucket, Key=key)["Body"]
    return dict(json.loads(body.read()))


def output_keys(stack: Stack, job_id: str) -> set[str]:
    prefix = f"{stack.settings.output_prefix}/{job_id}/"
    pages = (
        stack.client("s3")
        .get_paginator("list_objects_v2")
        .paginate(Bucket=stack.settings.output_bucket, Prefix=prefix)
    )
    return {o["Key"][len(prefix) :] for page in pages for o in page.get("Contents", [])}


def assert_one_completion_on_cpu(stack: Stack, scenario: Scenario, tier: str) -> dict[str, Any]:
    """Exactly one completion, made by the CPU after ``tier`` failed; said everywhere; the
    message was deleted after one delivery."""
    assert [e["type"] for e in scenario.events] == [
        "ffapi.job.received",
        "ffapi.job.started",
        "ffapi.job.completed",
    ]
    data = scenario.of_type("completed")[0]["data"]
    assert data["accel_tier"] == "cpu"
    assert data["fallbacks"][0]["tier"] == tier
    assert data["attempt"] == 1
    assert job_json(stack, data) == data
    record = job_record(stack, data["job_id"])
    assert record["status"]["S"] == "COMPLETED"
    stored = json.loads(record["result"]["S"])
    assert (stored["accel_tier"], stored["fallback_reason"]) == ("cpu", data["fallback_reason"])
    assert stack.queue_depth(stack.resources.queue_url) == 0  # not redelivered
    return dict(data)


def decodes(stack: Stack, key: str, tmp_path: Path) -> int:
    """Frames decoded from an output: it is a real, complete video."""
    local = tmp_path / Path(key).name
    stack.client("s3").download_file(stack.settings.output_bucket, key, str(local))
    result = subprocess.run(  # the real binary, not a fake that may be first on PATH
        [shutil.which("ffprobe") or "ffprobe", "-v", "error", "-count_frames",
         "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0",
         str(local)], capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(result.stdout.strip())


def test_forced_gpu_fails_on_the_real_cuda_error_and_completes_on_the_cpu(
    stack: Stack, short_clip: Path, tmp_path: Path
) -> None:
    upload(stack, short_clip)
    data = assert_one_completion_on_cpu(stack, run(stack, accel="gpu"), "gpu")
    # Debian's ffmpeg without a GPU: the CUDA driver cannot load. CUDA itself is unusable,
    # so gpu-decode (which needs it too) is skipped: one failed run, not two.
    assert data["fallback_reason"] == "cuda_unavailable"
    assert len(data["fallbacks"]) == 1
    assert "Cannot load libcuda.so.1" in data["fallbacks"][0]["message"]
    assert data["encoder"] == "libx264"
    video = next(o for o in data["outputs"] if o["role"] == "video")
    assert video["encoder"] == "libx264"
    assert decodes(stack, video["key"], tmp_path) == 30  # 2 s at 15 fps


def test_forced_gpu_decode_falls_back_for_a_ladder_too(
    stack: Stack, short_clip: Path, tmp_path: Path
) -> None:
    upload(stack, short_clip)
    data = assert_one_completion_on_cpu(
        stack, run(stack, accel="gpu-decode", preset="web-hls"), "gpu-decode"
    )
    assert data["fallback_reason"] == "cuda_unavailable"
    assert data["qc"]["passed"] is True
    assert {r["encoder"] for r in data["renditions"] if r["kind"] == "video"} == {"libx264"}
    assert {r["encoder"] for r in data["renditions"] if r["kind"] == "audio"} == {"aac"}


def test_a_cuda_failure_mid_encode_discards_the_partial_package(
    stack: Stack, short_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = fake_ffmpeg(tmp_path, monkeypatch, "cuda-midway")
    upload(stack, short_clip)
    data = assert_one_completion_on_cpu(stack, run(stack, accel="gpu", preset="web-hls"), "gpu")
    assert data["fallback_reason"] == "gpu_out_of_memory"  # not the host's memory

    runs = encodes(log)
    assert len(runs) == 2  # the GPU run that failed, then the CPU run
    assert "-hwaccel" in runs[0]
    assert "h264_nvenc" in runs[0]
    assert "-hwaccel" not in runs[1]
    assert "h264_nvenc" not in runs[1]

    # Nothing the failed run wrote was published; the CPU's package is complete and checked
    # (a stray thumbnail or segment would have failed QC's counts and references).
    published = output_keys(stack, data["job_id"])
    assert "cmaf/seg-0-00099.m4s" not in published
    assert "thumbnails/thumb-00042.jpg" not in published
    assert data["qc"]["passed"] is True
    for rendition in data["renditions"]:
        prefix = rendition["playlist"].rsplit("/", 1)[0]
        assert rendition["segments"] >= 1
        assert prefix.endswith("/cmaf")
    video = next(r for r in data["renditions"] if r["kind"] == "video")
    assert video["duration"] == pytest.approx(2.0, abs=0.1)


def test_a_corrupt_input_forced_to_gpu_fails_once_with_no_cpu_run(
    stack: Stack, short_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = fake_ffmpeg(tmp_path, monkeypatch, "corrupt")
    upload(stack, short_clip)
    scenario = run(stack, accel="gpu")
    assert [e["type"] for e in scenario.events] == [
        "ffapi.job.received",
        "ffapi.job.started",
        "ffapi.job.failed",
    ]
    error = scenario.of_type("failed")[0]["data"]["error"]
    assert (error["code"], error["retryable"]) == ("invalid_media", False)
    assert len(encodes(log)) == 1  # the GPU run only: a corrupt input is not re-encoded
    assert stack.queue_depth(stack.resources.queue_url) == 0


def test_an_unreadable_input_forced_to_gpu_never_reaches_an_encoder(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = fake_ffmpeg(tmp_path, monkeypatch, "passthrough")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4096))
    upload(stack, garbage, "garbage.mp4")
    scenario = run(stack, accel="gpu")
    failed = scenario.of_type("failed")
    assert len(failed) == 1
    assert not scenario.of_type("completed")
    assert failed[0]["data"]["error"]["code"] == "invalid_media"
    assert failed[0]["data"]["error"]["retryable"] is False
    assert encodes(log) == []
    assert stack.queue_depth(stack.resources.queue_url) == 0


def test_an_av1_ladder_skips_the_gpu_tier_and_walks_down_to_svt_av1(
    stack: Stack, short_clip: Path
) -> None:
    """ffmpeg 5.1 has no av1_nvenc: the worker knows its build's encoders, so the gpu tier is
    never tried (no doomed run, nothing against the breaker); gpu-decode is, and fails on
    CUDA itself here; SVT-AV1 on the CPU makes it."""
    upload(stack, short_clip)
    scenario = run(stack, accel="gpu", preset="web-av1")
    data = assert_one_completion_on_cpu(stack, scenario, "gpu-decode")
    assert [(f["tier"], f["reason"]) for f in data["fallbacks"]] == [
        ("gpu-decode", "cuda_unavailable"),
    ]
    assert data["encoder"] == "libsvtav1"
    assert data["qc"]["passed"] is True
    master_key = data["playback"]["hls"]
    body = stack.client("s3").get_object(Bucket=stack.settings.output_bucket, Key=master_key)
    master = body["Body"].read().decode()
    assert "av01." in master  # players pick the variant by its CODECS

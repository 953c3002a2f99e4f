"""Tool text that leaves the worker (core.events.scrub): real ffmpeg 5.1 / ffprobe stderr lines lose
their memory addresses and filesystem paths and keep what they say; job.failed events and a
fallback's message carry the scrubbed text, the error itself (the job record's) the raw."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from core.errors import AttemptsExhausted
from core.events.cloudevent import EventType
from core.events.contract import job_event
from core.events.scrub import scrub, scrub_values
from core.media.accel import AccelTier, TierFailure
from core.media.diagnose import classify_ffmpeg_failure, limit_breach
from core.media.hardening import ResourceLimits

ADDRESS = re.compile(r"\b0x[0-9a-fA-F]+")  # not the 0x of 16000x16000
JOB_DIR = "/tmp/ffapi-work/ffapi-j-0123456789abcdef01234567-n4026531836-p5123-k2x9q1wz"

# Each as ffmpeg/ffprobe printed it (the job directory's name substituted), and as it leaves.
LINES = [
    ("[png @ 0x562cc2615480] [IMGUTILS @ 0x7fff8477df90] Picture size 16000x16000 exceeds "
     "specified max pixel count 35389440, see the documentation if you wish to increase it",
     "[png] [IMGUTILS] Picture size 16000x16000 exceeds specified max pixel count 35389440, "
     "see the documentation if you wish to increase it"),
    ("[mov,mp4,m4a,3gp,3g2,mj2 @ 0x563e627991c0] moov atom not found",
     "[mov,mp4,m4a,3gp,3g2,mj2] moov atom not found"),
    (f"file:{JOB_DIR}/input/source: Invalid data found when processing input",
     "source: Invalid data found when processing input"),
    (f"{JOB_DIR}/input/source: Invalid data found when processing input",
     "source: Invalid data found when processing input"),
    ("file:///tmp/ux/nonexist.mp4: No such file or directory",
     "nonexist.mp4: No such file or directory"),
    (f"Input #0, matroska,webm, from 'file:{JOB_DIR}/input/source':",
     "Input #0, matroska,webm, from 'source':"),
    (f"[hls @ 0x561803685400] Opening '{JOB_DIR}/out/cmaf/v0/seg_00001.m4s' for writing",
     "[hls] Opening 'seg_00001.m4s' for writing"),
    ("[concat @ 0x55eb5ce2e940] Impossible to open '/srv/secret.txt'",
     "[concat] Impossible to open 'secret.txt'"),
    ("/proc/o.mp4: No such file or directory", "o.mp4: No such file or directory"),
    (f"[NULL @ 0x563f5fd6d5c0] Unable to find a suitable output format for '{JOB_DIR}/'",
     "[NULL] Unable to find a suitable output format for '<path>'"),
    ("[subfile @ 0x5617e9c2e140] Protocol 'subfile' not on whitelist 'file'!",
     "[subfile] Protocol 'subfile' not on whitelist 'file'!"),
    ("subfile,,start,0,end,0,,:/srv/secret.txt: Invalid argument",
     "subfile,,start,0,end,0,,:secret.txt: Invalid argument"),
    # Python's own words, as an InternalError carries them
    (f"FileNotFoundError: [Errno 2] No such file or directory: '{JOB_DIR}/out/cmaf'",
     "FileNotFoundError: [Errno 2] No such file or directory: 'cmaf'"),
    # not seen from ffmpeg, but any pointer printed bare is one
    ("at 0x00007f3a5c2e1a40", "at <address>"),
]  # fmt: skip

# Lines with nothing to take out: left exactly as they are.
UNTOUCHED = [
    "Stream #0:0: Video: rawvideo (RGB[24] / 0x18424752), rgb24, 320x240 [SAR 1:1 DAR 4:3], "
    "25 tbr, 25 tbn",
    "Stream #0:0(und): Video: h264 (avc1 / 0x31637661), yuv420p(tv, bt709/bt709/bt709, "
    "progressive), 1280x720, 1847 kb/s, 30 fps",
    "Error setting option time_base to value 1/0.",
    "Duration: N/A, start: 0.000000, bitrate: N/A",
    "s3://ffapi-input/incoming/a.mp4 was overwritten since it was announced",
    "cannot reach https://hooks.example.com/ffapi/events (timeout)",
    "../../../secret.txt: No such file or directory",
    "Codec (png) not on whitelist 'h264,hevc'",
]


@pytest.mark.parametrize(("raw", "public"), LINES)
def test_addresses_and_paths_are_taken_out(raw: str, public: str) -> None:
    assert scrub(raw) == public
    assert not ADDRESS.search(public)
    assert "/tmp" not in public
    assert "ffapi-j-" not in public


@pytest.mark.parametrize("line", UNTOUCHED)
def test_lines_with_nothing_internal_are_left_alone(line: str) -> None:
    assert scrub(line) == line


def test_scrubbing_twice_changes_nothing() -> None:
    once = [scrub(raw) for raw, _ in LINES]
    assert [scrub(text) for text in once] == once


def test_nested_values_are_scrubbed_and_keys_kept() -> None:
    raw = {
        "reason": f"{JOB_DIR}/x",
        "cause": {"stderr_tail": "[h264 @ 0x55d0c1a4b2c0] e"},
        "tries": [f"file:{JOB_DIR}/a", 3],
        "ok": True,
    }
    assert scrub_values(raw) == {
        "reason": "x",
        "cause": {"stderr_tail": "[h264] e"},
        "tries": ["a", 3],
        "ok": True,
    }


BOMB_STDERR = (
    "[png @ 0x562cc2615480] [IMGUTILS @ 0x7fff8477df90] Picture size 16000x16000 exceeds "
    "specified max pixel count 35389440, see the documentation if you wish to increase it\n"
    f"file:{JOB_DIR}/input/source: Invalid data found when processing input\n"
)
CONTEXT = {"input": {"bucket": "ffapi-input", "key": "incoming/big.mkv"}, "attempt": 1}
NOW = datetime(2024, 5, 1, tzinfo=UTC)


def test_the_failed_event_is_scrubbed_and_the_error_kept_raw() -> None:
    error = limit_breach(BOMB_STDERR, 1, ResourceLimits(), tool="ffprobe")
    assert error is not None
    assert error.code == "frame_too_large"
    raw = error.to_dict()  # what the job record keeps
    event = job_event(EventType.FAILED, "j-1", NOW, {**CONTEXT, "error": raw}, 1)
    public = event.to_json()
    assert not ADDRESS.search(public)
    assert JOB_DIR not in public
    assert "/tmp" not in public
    assert event.data["error"]["stderr_tail"].startswith("[png] [IMGUTILS] Picture size 16000")
    assert event.data["error"]["message"].startswith("ffprobe refused a picture: [png] [IM")
    assert "0x562cc2615480" in raw["message"]
    assert JOB_DIR in raw["stderr_tail"]


def test_a_cause_in_details_is_scrubbed_too() -> None:
    cause = classify_ffmpeg_failure(BOMB_STDERR.splitlines()[1], tool="ffprobe")
    error = AttemptsExhausted.after(cause, 3).to_dict()
    assert JOB_DIR in error["details"]["cause"]["stderr_tail"]
    event = job_event(EventType.FAILED, "j-1", NOW, {**CONTEXT, "error": error}, 3)
    assert JOB_DIR not in event.to_json()
    assert event.data["error"]["details"]["cause"]["stderr_tail"] == (
        "source: Invalid data found when processing input"
    )


def test_a_fallback_message_in_job_json_is_scrubbed() -> None:
    said = "ffmpeg failed: no NVENC session: [h264_nvenc @ 0x55d0c1a4b2c0] OpenEncodeSessionEx"
    failure = TierFailure(tier=AccelTier.GPU, reason="nvenc_session_failed", message=said)
    assert failure.message == ("ffmpeg failed: no NVENC session: [h264_nvenc] OpenEncodeSessionEx")

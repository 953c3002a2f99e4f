"""What a failed job tells the world: the job.failed event every subscriber (and webhook) gets
carries ffprobe's words without memory addresses or the job directory's path, while the job
record keeps them raw for operators. Real uploads, the real worker and ffprobe."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_media_guard import huge_picture

from .conftest import Stack, job_record, run_worker

pytestmark = pytest.mark.integration

ADDRESS = re.compile(r"\b0x[0-9a-fA-F]+")  # `[png @ 0x55…]`; not the 0x of 16000x16000


def _failed(events: list[dict[str, Any]], key: str) -> dict[str, Any]:
    [event] = [
        e for e in events if e["type"] == "ffapi.job.failed" and e["data"]["input"]["key"] == key
    ]
    return event


def test_job_failed_events_carry_no_addresses_or_paths(stack: Stack, tmp_path: Path) -> None:
    s3, settings = stack.client("s3"), stack.settings
    bomb_key, text_key = f"{settings.watch_prefix}big.mkv", f"{settings.watch_prefix}notes.mp4"
    s3.upload_file(str(huge_picture(tmp_path)), settings.input_bucket, bomb_key)
    s3.put_object(Bucket=settings.input_bucket, Key=text_key, Body=b"not a video\n" * 40)

    scenario = run_worker(stack, terminal=2)

    work = str(settings.temp_dir)
    bomb, text = _failed(scenario.events, bomb_key), _failed(scenario.events, text_key)
    for event in (bomb, text):
        public = json.dumps(event)
        assert not ADDRESS.search(public), public
        assert work not in public, public
        assert "/tmp" not in public, public
        assert "file:" not in public, public
        assert f"ffapi-{event['subject']}-" not in public  # the job directory's name
    # ...and they still say what went wrong
    assert bomb["data"]["error"]["code"] == "frame_too_large"
    assert bomb["data"]["error"]["message"].startswith(
        "ffprobe refused a picture: [png] [IMGUTILS] Picture size 16000x16000 exceeds"
    )
    assert text["data"]["error"]["code"] == "invalid_media"
    assert text["data"]["error"]["stderr_tail"] == (
        "source: Invalid data found when processing input"
    )

    # The job record keeps the tool's words as they were.
    bomb_raw = json.loads(job_record(stack, bomb["subject"])["error"]["S"])
    assert re.search(r"\[png @ 0x[0-9a-f]+\]", bomb_raw["message"])
    text_raw = json.loads(job_record(stack, text["subject"])["error"]["S"])
    assert f"file:{work}/ffapi-{text['subject']}-" in text_raw["stderr_tail"]

"""handlers.demo with ``--progressive``: the request it sends (version 2, progressive, the
uploaded input) and the line that puts the time to job.playable beside the job's."""

from __future__ import annotations

import json
from pathlib import Path

from core.models import JobRequest
from handlers.demo import playable_line, request_body


def test_progressive_sends_a_version_2_request_for_the_preset() -> None:
    body = request_body(None, "ffapi-input", "demo/sample.mp4", progressive=True, preset="hls-ts")
    assert body is not None
    request = JobRequest.model_validate_json(body)
    assert request.progressive
    assert request.version == 2
    assert request.preset == "hls-ts"
    assert request.input.key == "demo/sample.mp4"
    assert request_body(None, "ffapi-input", "incoming/sample.mp4") is None  # S3 says it


def test_progressive_is_added_to_a_request_file(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"input": {"bucket": "x-y-z", "key": "k"}, "preset": "web-hls"}))
    body = request_body(path, "ffapi-input", "demo/a.mp4", progressive=True)
    assert body is not None
    assert json.loads(body) == {
        "input": {"bucket": "ffapi-input", "key": "demo/a.mp4"}, "preset": "web-hls",
        "version": 2, "progressive": True,
    }  # fmt: skip


def test_the_time_to_playable_is_said_beside_the_jobs() -> None:
    completed = {"started_at": "2026-12-07T19:00:00+00:00",
                 "completed_at": "2026-12-07T19:00:20+00:00"}  # fmt: skip
    line = playable_line({"seconds": 2.5}, completed)
    assert line == "after 2.50 s; the job took 20.00 s (12% of it)"

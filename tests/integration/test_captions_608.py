"""CEA-608 captions in the input's H.264: carried through the encode, found in the package
(a WebVTT track of their cues) and declared in the manifests only when there."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import m3u8
import pytest

from tests.integration.cea608 import TEXT, captioned_clip
from tests.integration.steps_job import make, run_steps
from tests.integration.test_subtitles import _cues

pytestmark = pytest.mark.integration

_DASH = "{urn:mpeg:dash:schema:mpd:2011}"
# the CEA-708 step asks for a service these clips do not carry: it is not declared
STEPS = [
    {"op": "subtitles", "captions": "cea-608", "language": "eng"},
    {"op": "subtitles", "captions": "cea-708", "language": "fra"},
    {"op": "encode", "preset": "web-hls"},
]
CEA608 = "urn:scte:dash:cc:cea-608:2015"


def test_captions_in_the_video_are_carried_found_and_declared(tmp_path: Path) -> None:
    clip = captioned_clip(tmp_path)
    done = run_steps(clip, tmp_path / "job", STEPS)
    assert done.error is None, done.error
    package = done.out / "encode" / "cmaf"
    master = m3u8.load(str(package / "master.m3u8"))
    (cc,) = [m for m in master.media if m.type == "CLOSED-CAPTIONS"]
    assert (cc.instream_id, cc.group_id, cc.language) == ("CC1", "cc", "eng")
    assert 'CLOSED-CAPTIONS="cc"' in (package / "master.m3u8").read_text()
    assert 'INSTREAM-ID="SERVICE' not in (package / "master.m3u8").read_text()
    assert len(master.playlists) >= 1
    (track,) = [m for m in master.media if m.type == "SUBTITLES"]
    whole = (package / "subtitles" / "eng.vtt").read_text()
    ((start, end, words),) = _cues(whole)
    assert words == TEXT
    assert abs(start - 1.2) <= 0.05  # shown at frame 30, cleared at frame 75 (25 fps)
    assert abs(end - 3.0) <= 0.05
    root = ET.parse(package / "manifest.mpd").getroot()
    video = [a for a in root.iter(f"{_DASH}AdaptationSet") if a.get("contentType") == "video"]
    marks = [[m.get("schemeIdUri") for m in a.iter(f"{_DASH}Accessibility")] for a in video]
    assert marks == [[CEA608]] * len(video)
    assert track.uri == "subtitles/eng.m3u8"


def test_no_captions_in_the_video_none_declared(tmp_path: Path) -> None:
    clip = make(tmp_path, "plain.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=4",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")  # fmt: skip
    done = run_steps(clip, tmp_path / "job", STEPS)
    assert done.error is None, done.error
    package = done.out / "encode" / "cmaf"
    text = (package / "master.m3u8").read_text()
    assert "CLOSED-CAPTIONS" not in text
    assert "SUBTITLES" not in text
    assert "Accessibility" not in (package / "manifest.mpd").read_text()
    assert not (package / "subtitles").exists()

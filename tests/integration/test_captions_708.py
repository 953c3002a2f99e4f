"""CEA-708 captions in the input's H.264: carried through the encode into every rendition
(read back from an output's SEI, by hand), declared in the manifests (only the services
that are there) and decoded to a WebVTT track."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import m3u8
import pytest

from tests.hls_entries import uri_of
from tests.integration.cea608 import captioned_clip
from tests.integration.cea708 import TEXT, plan_708, rendition_h264, service_blocks
from tests.integration.steps_job import run_steps
from tests.integration.test_subtitles import _cues
from tests.step_docs import StepDocs

pytestmark = pytest.mark.integration

_DASH = "{urn:mpeg:dash:schema:mpd:2011}"
CEA708 = "urn:scte:dash:cc:cea-708:2015"
# service 2 is asked for, but the clip carries service 1 only
STEPS: StepDocs = [
    {"op": "subtitles", "captions": "cea-708", "language": "eng"},
    {"op": "subtitles", "captions": "cea-708", "service": 2, "language": "fra"},
    {"op": "encode", "preset": "web-hls"},
]


def test_708_captions_are_carried_declared_and_decoded(tmp_path: Path) -> None:
    clip = captioned_clip(tmp_path, 4, plan_708())
    done = run_steps(clip, tmp_path / "job", STEPS)
    assert done.error is None, done.error
    package = done.out / "encode" / "cmaf"
    master = m3u8.load(str(package / "master.m3u8"))
    cc = [
        (m.group_id, m.instream_id, m.language) for m in master.media if m.type == "CLOSED-CAPTIONS"
    ]
    assert cc == [("cc", "SERVICE1", "eng")]
    assert [p.stream_info.closed_captions for p in master.playlists] == (
        ['"cc"'] * len(master.playlists)
    )
    (track,) = [m for m in master.media if m.type == "SUBTITLES"]
    assert (track.language, track.uri) == ("eng", "subtitles/eng.m3u8")
    ((start, end, words),) = _cues((package / "subtitles" / "eng.vtt").read_text())
    assert words == TEXT
    assert abs(start - 1.2) <= 0.05  # shown at frame 30, cleared at frame 75 (25 fps)
    assert abs(end - 3.0) <= 0.05
    assert not (package / "subtitles" / "fra.vtt").exists()
    root = ET.parse(package / "manifest.mpd").getroot()
    video = [a for a in root.iter(f"{_DASH}AdaptationSet") if a.get("contentType") == "video"]
    assert video
    for aset in video:
        marks = [(m.get("schemeIdUri"), m.get("value")) for m in aset.iter(f"{_DASH}Accessibility")]
        assert marks == [(CEA708, "1=lang:eng")]
    # the passthrough itself: the caption's text in service 1 of an output rendition's SEI
    h264 = rendition_h264(package / uri_of(master.playlists[-1]), tmp_path / "out.h264")
    blocks = service_blocks(h264)
    assert any(service == 1 and TEXT.encode() in data for service, data in blocks)
    assert {service for service, _ in blocks} == {1}

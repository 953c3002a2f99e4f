"""A progressive package in a real browser: hls.js and dash.js in headless Chromium play the
growing manifests (:mod:`core.streaming.progressive`: EVENT playlists, a dynamic MPD) while a
thread grows the package segment by segment, as the worker's sink publishes it, then replaces
them with the finished VOD playlists and static MPD.

The media is the worker's web-hls package of a 6 s clip (two segments a rendition); the
package served starts with each rendition's first segment only, and each player must play
into the second: dash.js refreshes a dynamic MPD once playback has started (its ``play``
event: the page lets dash.js start playback itself, see page/player.js).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.streaming.playlists import read_master, read_media
from core.streaming.progressive import event_playlist, growing_mpd, xs_time
from core.streaming.segment_watch import LandedSegment
from tests.browser.players import dash_tracks, hls_tracks

pytestmark = pytest.mark.browser
FINAL = ("master.m3u8", "manifest.mpd")
PAST_THE_FIRST = 5.0  # seconds played: into the second segment, listed only as it grows


def _landed(package: Path) -> dict[str, list[LandedSegment]]:
    """Each media playlist's segments, as the segment watch tells them."""
    master = read_master((package / "master.m3u8").read_text())
    found = {}
    for uri in master.media_uris:
        media = read_media(uri, (package / uri).read_text())
        start, segments = 0.0, []
        for index, (name, seconds) in enumerate(media.segments):
            size = (package / name).stat().st_size
            segments.append(LandedSegment(uri, name, media.init, index, start, seconds, size))
            start += seconds
        found[uri] = segments
    return found


def _publish(package: Path, into: Path, count: int, start: str) -> None:
    """The package as the sink publishes it once ``count`` segments a rendition are up."""
    landed = _landed(package)
    for uri, segments in landed.items():
        for segment in segments[:count]:
            for name in filter(None, (segment.init, segment.path)):
                if not (into / name).exists():
                    shutil.copy(package / name, into / name)
        (into / uri).write_text(event_playlist(uri, segments[:count], 4, 1))
    shutil.copy(package / "master.m3u8", into / "master.m3u8")
    up = {s.path for segments in landed.values() for s in segments[:count]}
    raw = (package / "manifest.mpd").read_text()
    mpd = growing_mpd(raw, "manifest.mpd", up, datetime.now(UTC), start)
    (into / "manifest.mpd").write_text(mpd)


@contextmanager
def growing(package: Path, into: Path) -> Iterator[None]:
    """One segment a rendition at once; the second 2 s later; the finished package 4 s after."""
    # as ffmpeg states it: the wall clock when the encode began, a segment's length ago
    start = xs_time(datetime.now(UTC) - timedelta(seconds=4))
    _publish(package, into, 1, start)
    stop = threading.Event()

    def grow() -> None:
        if stop.wait(2.0):
            return
        _publish(package, into, 2, start)
        if stop.wait(4.0):
            return
        for uri in _landed(package):
            shutil.copy(package / uri, into / uri)
        for name in FINAL:
            shutil.copy(package / name, into / name)

    thread = threading.Thread(target=grow, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def test_hls_js_plays_a_growing_package(web_package: Path, tmp_path: Path) -> None:
    with growing(web_package, tmp_path):
        report = hls_tracks(tmp_path, PAST_THE_FIRST)
    assert report.played(PAST_THE_FIRST), report


def test_dash_js_plays_a_growing_package(web_package: Path, tmp_path: Path) -> None:
    with growing(web_package, tmp_path):
        report = dash_tracks(tmp_path, PAST_THE_FIRST)
    assert report.played(PAST_THE_FIRST), report

"""What hls.js and dash.js, in headless Chromium, make of a package: ``hls_tracks(package)``
plays ``master.m3u8``, ``dash_tracks(package)`` plays ``manifest.mpd``; each returns a
``PlayerReport`` (how far playback got, errors, the audio and text tracks the player lists,
and whether switching to the second audio track kept playing).

The page is ``page/player.html``; the players come from ``node_modules`` (``npm ci`` in this
folder, exact versions in package-lock.json; ``./dev test`` runs it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple
from urllib.parse import urlencode

from pydantic import TypeAdapter

from tests.browser.chromium import find_chromium, open_page
from tests.browser.serve import Site, serve

HERE = Path(__file__).parent
PAGE = HERE / "page"
NODE_MODULES = HERE / "node_modules"
PLAY_SECONDS = 3.0  # how far each player must play; the packages under test are 6-8 s
DEADLINE = 25.0  # the page reports what it has by then, playing or not

Player = Literal["hls", "dash"]


class AudioTrack(NamedTuple):
    lang: str  # as the player lists it: "" where the package names none
    name: str  # hls.js: the NAME attribute; dash.js: the first <Label>, or ""


class TextTrack(NamedTuple):
    lang: str
    kind: str  # the HTML TextTrack kind: "subtitles", "captions", ...


@dataclass(frozen=True)
class PlayerReport:
    player: Player
    version: str  # the player's own version string
    mse_h264_aac: bool  # MediaSource.isTypeSupported('video/mp4; codecs="avc1…,mp4a.40.2"')
    reached: float  # the playhead when the report was sent, seconds
    errors: tuple[str, ...]  # fatal player errors, media element errors, the page's deadline
    warnings: tuple[str, ...]  # errors the player recovers from (hls.js: retried loads)
    audio: tuple[AudioTrack, ...]
    text: tuple[TextTrack, ...]  # the <video> element's text tracks, metadata tracks left out
    switched: bool | None  # None: fewer than two audio tracks, nothing to switch to
    audio_after_switch: int | None  # the audio track index the player reports after it
    video_frames: int  # frames the element decoded
    audio_bytes: int  # audio bytes the element decoded (Chromium's webkitAudioDecodedByteCount)

    def played(self, seconds: float = PLAY_SECONDS) -> bool:
        """Played to ``seconds`` without an error, decoding both pictures and sound."""
        return (
            not self.errors
            and self.reached >= seconds
            and self.video_frames > 0
            and self.audio_bytes > 0
        )

    @property
    def audio_languages(self) -> list[str]:
        return [track.lang for track in self.audio]

    @property
    def text_languages(self) -> list[str]:
        return [track.lang for track in self.text]


_REPORT = TypeAdapter(PlayerReport)


def pinned(package: str) -> str:
    """The version package.json pins for ``hls.js`` or ``dashjs``."""
    wanted: dict[str, str] = json.loads((HERE / "package.json").read_text())["dependencies"]
    return wanted[package]


def hls_tracks(
    package: Path, seconds: float = PLAY_SECONDS, deadline: float = DEADLINE
) -> PlayerReport:
    """hls.js playing ``package/master.m3u8``."""
    return play(package, "master.m3u8", "hls", seconds, deadline)


def dash_tracks(
    package: Path, seconds: float = PLAY_SECONDS, deadline: float = DEADLINE
) -> PlayerReport:
    """dash.js playing ``package/manifest.mpd``."""
    return play(package, "manifest.mpd", "dash", seconds, deadline)


def play(
    package: Path, manifest: str, player: Player, seconds: float, deadline: float = DEADLINE
) -> PlayerReport:
    """Serves ``package`` on loopback and plays ``manifest`` from it in a fresh Chromium; the
    page reports after ``seconds`` of playback (and an audio switch), or at ``deadline``."""
    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("no chromium on PATH (./dev test installs it)")
    site = Site({"/package/": package, "/page/": PAGE, "/node_modules/": NODE_MODULES})
    with serve(site) as base:
        query = urlencode(
            {
                "player": player,
                "src": f"/package/{manifest}",
                "seconds": seconds,
                "deadline_ms": int(deadline * 1000),
            }
        )
        # Chromium's own start, and a page that never reports, get 20 s more.
        body = open_page(chromium, f"{base}/page/player.html?{query}", site.reports, deadline + 20)
    return _REPORT.validate_json(body)

"""The ``dash`` muxer's arguments of a CMAF package: one set of fMP4 segments behind both
``manifest.mpd`` and ``master.m3u8`` (``-hls_playlist 1``), segments named by
representation and number. Moved out of :mod:`core.streaming.renditions` unchanged; the range
plans of :mod:`core.streaming.ranges` write through the same muxer.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from core.presets import StreamingPreset
from core.streaming.audio_tracks import PlannedAudio, adaptation_streams

INIT_NAME = "init-$RepresentationID$.m4s"
SEGMENT_NAME = "seg-$RepresentationID$-$Number%05d$.m4s"


def cmaf_muxer(
    preset: StreamingPreset, out: PurePosixPath, n_video: int, audio: tuple[PlannedAudio, ...]
) -> list[str]:
    sets = ["id=0,streams=v"] if n_video else []
    # The muxer cuts the audio wherever it cuts the video, and also once the audio's own
    # segment reaches seg_duration: past the last video cut that made a runt of the audio's
    # last few frames (53 ms after a 20 s picture). At twice the video's, the audio's own
    # limit is never reached, and the last segment takes what remains.
    own = f",seg_duration={2 * preset.segment_seconds:g}" if n_video else ""
    sets += [
        f"id={len(sets) + i}{own},streams={streams}"
        for i, streams in enumerate(adaptation_streams(audio, n_video))
    ]
    return [
        "-f", "dash", "-dash_segment_type", "mp4",
        "-seg_duration", f"{preset.segment_seconds:g}",
        "-use_template", "1", "-use_timeline", "1", "-streaming", "0", "-hls_playlist", "1",
        "-adaptation_sets", " ".join(sets),
        "-init_seg_name", INIT_NAME, "-media_seg_name", SEGMENT_NAME,
        f"file:{out / 'cmaf' / 'manifest.mpd'}",
    ]  # fmt: skip

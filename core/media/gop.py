"""The GOP of a segmented encode, fixed in frames: ``G = ceil(S * rate)``, with ``rate`` the
conditioned rate as an exact fraction (30000/1001, not 29.97).

Why frames and not seconds: keyframes forced at ``gte(t,n_forced*S)`` land on the first frame
at or after each multiple of S, so at 30000/1001 with 4 s segments they are 120 frames apart
but 119 (3.97 s) once every ~8 segments (960 -> 1079). ffmpeg 5.1's ``dash`` muxer cuts a
segment at a keyframe only once it has lasted ``seg_duration`` (compared exactly), so it
skipped that keyframe and wrote a 7.97 s segment, which the package QC rejects. Every G
frames, each segment lasts ``G / rate`` ≥ S (4.004 s at 29.97) and less than a frame more,
so the muxer cuts at every keyframe; the ``hls`` muxer cuts at a keyframe once the stream
has run ``number * hls_time``, which every ``k * G`` frames also passes. At a whole rate
nothing changes (30 fps * 4 s = 120 frames).
"""

from __future__ import annotations

import math
from fractions import Fraction

KEYFRAMES_FLAG = "-force_key_frames:v"


def segment_length(segment_seconds: float) -> Fraction:
    """The segment length the muxers are given, exactly: the longer of the preset's number
    and its argv spelling (``:g``), so that a GOP is never shorter than either."""
    return max(Fraction(segment_seconds), Fraction(f"{segment_seconds:g}"))


def segment_gop(rate: Fraction, segment_seconds: float) -> int:
    """Frames per GOP at ``rate``: the fewest that last at least one segment."""
    return max(1, math.ceil(segment_length(segment_seconds) * rate))


def keyframe_expression(gop: int, first: int = 0, keyframe: int = 0) -> str:
    """``-force_key_frames:v`` for a keyframe every ``gop`` frames. ffmpeg's ``n`` counts the
    frames given to this encoder from 0; a range encode starting at frame ``first`` of the
    whole picture, on its ``keyframe``-th keyframe, keeps the whole encode's grid."""
    if first == 0 and keyframe == 0:
        return f"expr:gte(n,n_forced*{gop})"
    return f"expr:gte(n+{first},(n_forced+{keyframe})*{gop})"

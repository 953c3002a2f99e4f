"""The v1 argv of plan_mp4 / plan_streaming for a few sources and tiers, recorded before
the encoders were split into branches (:mod:`core.steps.encode_branch`): they must not change."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path, PurePosixPath

from core.media.accel import CPU_ONLY, AccelTier, TierChoice
from core.media.plan import plan_mp4
from core.media.probe import AudioStream, ProbeResult, VideoStream
from core.presets import Mp4Preset, StreamingPreset, builtin_catalog
from core.streaming.renditions import plan_streaming

FIXTURE = Path(__file__).with_name("golden") / "v1-encode-argv.json"
SOURCE = PurePosixPath("/w/in/source")
OUT = PurePosixPath("/w/out")
TIERS = {"cpu": CPU_ONLY, "gpu": TierChoice(AccelTier.GPU, 0)}
AAC = AudioStream(codec="aac", channels=2, sample_rate=48000, index=1)


def _probe(video: VideoStream | None, audio: bool = True) -> ProbeResult:
    return ProbeResult(
        format_name="mov", duration=12.0, size=1, video=video, audio=AAC if audio else None
    )


def _video(width: int, height: int, **kw: object) -> VideoStream:
    base: dict[str, object] = dict(
        codec="h264",
        width=width,
        height=height,
        fps=30.0,
        rotation=0,
        sample_aspect=Fraction(1),
        pix_fmt="yuv420p",
        duration=12.0,
    )
    return VideoStream(**{**base, **kw})  # type: ignore[arg-type]


PROBES = {
    "landscape": _probe(_video(1920, 1080)),
    "portrait": _probe(_video(1080, 1920, fps=60.0)),
    "hdr": _probe(
        _video(
            3840, 2160, codec="hevc", pix_fmt="yuv420p10le", color_transfer="smpte2084", fps=59.94
        )
    ),
    "interlaced": _probe(
        _video(
            720, 576, codec="mpeg2video", fps=25.0, field_order="tt", sample_aspect=Fraction(16, 15)
        )
    ),
    "audio": _probe(None),
}
# (preset, probe) pairs; each on every tier in TIERS
CASES = [
    *[("mp4-720p", p) for p in ("landscape", "portrait", "hdr", "interlaced")],
    *[("web-hls", p) for p in ("landscape", "portrait", "hdr", "interlaced")],
    *[("hls-ts", p) for p in ("landscape", "interlaced")],
    ("audio-only", "audio"),
    ("audio-only", "landscape"),
]


def argv_of(preset_name: str, probe_name: str, tier: str) -> list[str]:
    preset = builtin_catalog().get(preset_name)
    probe = PROBES[probe_name]
    if isinstance(preset, Mp4Preset):
        return list(plan_mp4(preset, probe, SOURCE, OUT, TIERS[tier]).argv)
    assert isinstance(preset, StreamingPreset)
    return list(plan_streaming(preset, probe, SOURCE, OUT, TIERS[tier]).argv)


def all_argvs() -> dict[str, list[str]]:
    return {
        f"{preset}/{probe}/{tier}": argv_of(preset, probe, tier)
        for preset, probe in CASES
        for tier in TIERS
    }


if __name__ == "__main__":  # records the fixture (run once, before the refactor)
    import json

    FIXTURE.write_text(json.dumps(all_argvs(), indent=1) + "\n")

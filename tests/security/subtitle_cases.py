"""Hostile subtitle files as a steps job's ``subtitles`` source (issue 18), against real
workers: a good clip staged beside the file, and a version 2 request naming both. What the
file names (the canary, the secret file) is never opened: the subtitle demuxers read only
the file itself, libass gets a script without embedded fonts, and a sidecar keeps text."""

from __future__ import annotations

from collections.abc import Callable

from .cases import COMPLETES, Build, Case, Ctx, Submission, fails
from .hostile import ass_subtitles, hls_media

TEXT = "text/plain"


def _subtitles_job(name: str, body: Callable[[Ctx], bytes], mode: str, preset: str) -> Build:
    def build(ctx: Ctx) -> Submission:
        clip, subs = ctx.staged(f"{name}.mp4"), ctx.staged(f"{name}.srt")
        steps = [
            {"op": "subtitles", "source": {"key": subs}, "language": "eng", "mode": mode},
            {"op": "encode", "preset": preset},
        ]
        puts = (ctx.put(clip, ctx.media.clip), ctx.put(subs, body(ctx), TEXT))
        return Submission(puts=puts, body=ctx.request(clip, version=2, steps=steps))

    return build


def _styled_vtt(ctx: Ctx) -> bytes:
    return (
        f"WEBVTT\n\nSTYLE\n@import url({ctx.url('css')});\n::cue {{ background: "
        f"url(file://{ctx.secret_path}) }}\n\n00:00.200 --> 00:01.000\n"
        f"<img src={ctx.url('img')}> words\n"
    ).encode()


def _playlist(ctx: Ctx) -> bytes:
    return hls_media([ctx.url("seg.ts"), ctx.secret_path, f"file:{ctx.secret_path}"])


SUBTITLE_CASES: tuple[Case, ...] = (
    Case("subtitles-ass-with-urls-burnt", _subtitles_job(
        "sa", lambda c: ass_subtitles(c.secret_path, c.url("ass")), "burn", "mp4-480p"),
         COMPLETES),
    Case("subtitles-vtt-styles-with-urls", _subtitles_job("sv", _styled_vtt, "sidecar", "web-hls"),
         COMPLETES),
    Case("subtitles-playlist-as-srt", _subtitles_job("sp", _playlist, "sidecar", "web-hls"),
         fails("unsupported_format", "invalid_media")),
    Case("subtitles-text-not-subtitles", _subtitles_job(
        "st", lambda c: b"just some words\n" * 40, "burn", "mp4-480p"),
         fails("unsupported_format", "invalid_media")),
)  # fmt: skip

"""Hostile media: files that name other resources, lie about their size, length or shape, or
are broken. Each is a real upload (S3's notification starts the job) or a staged object and a
direct request."""

from __future__ import annotations

from collections.abc import Callable

from .cases import COMPLETES, HLS, Case, Ctx, Expect, fails, staged_request, upload
from .hostile import (
    ass_subtitles,
    dash_mpd,
    ffconcat,
    flip_bits,
    hls_master,
    hls_media,
    svg,
    xml_entity,
)

TS = "video/mp2t"
# Seeds whose flips break the moov in different ways (ffprobe refuses; a codec that reads
# as none; a broken header found only by ffmpeg; an allocation that fails; decode errors).
FLIP_SEEDS = (1, 2, 3, 5, 13, 17)


def _everything_local(ctx: Ctx) -> list[str]:
    secret = ctx.secret_path
    return [ctx.url("seg0.ts"), secret, f"file:{secret}", ctx.secret_relative]


def _hls(ctx: Ctx) -> bytes:
    return hls_media(_everything_local(ctx))


def _concat_protocols(ctx: Ctx) -> bytes:
    secret = ctx.secret_path
    return ffconcat(
        [
            ctx.url("c.ts"),
            f"file:{secret}",
            f"subfile,,start,0,end,0,,:{secret}",
            f"concat:{secret}|{secret}",
        ]
    )


def _flipped(seed: int) -> Callable[[Ctx], bytes]:
    return lambda ctx: flip_bits(ctx.media.clip, seed)


def _truncated(ctx: Ctx) -> bytes:
    whole = ctx.media.moov_last
    return whole[: len(whole) // 2]


# Damage a decoder may or may not get past: a completed job (its outputs checked readable by
# the worker) is fine, and so is a permanent refusal (a flip may also make the file read as
# another container, or its codec as none); a retry is not.
DAMAGED = Expect(frozenset({"invalid_media", "unsupported_codec", "unsupported_format",
                            "frame_rate_too_high", "frame_too_large", "too_many_streams",
                            "input_too_long", "memory_limit"}),
                 completes=True, may_encode=True)  # fmt: skip

MEDIA_CASES: tuple[Case, ...] = (
    # controls: the same harness sees good inputs complete
    Case("clip-upload", upload("clip.mp4", lambda c: c.media.clip), COMPLETES),
    Case("clip-request-own-prefix", staged_request(
        "clip.mp4", lambda c: c.media.clip,
        fields=lambda c: {"output": c.output(f"{c.settings.output_prefix}/tenant-a")}),
         COMPLETES),
    # playlists and scripts that name the canary and the secret file
    Case("hls-playlist", upload("list.m3u8", _hls, HLS), fails("unsupported_format")),
    Case("hls-saved-as-mp4", upload("list.mp4", _hls), fails("unsupported_format")),
    Case("hls-as-mp4-hls-type", upload("list2.mp4", _hls, HLS), fails("unsupported_format")),
    Case("hls-by-request", staged_request("list.mp4", _hls, HLS), fails("unsupported_format")),
    Case("hls-master-to-secret", upload("master.mp4", lambda c: hls_master(c.secret_path), HLS),
         fails("unsupported_format")),
    Case("hls-master-to-secret-relative",
         upload("master2.mp4", lambda c: hls_master(c.secret_relative)),
         fails("unsupported_format")),
    Case("hls-master-to-canary", upload("master3.mp4", lambda c: hls_master(c.url("v.m3u8"))),
         fails("unsupported_format")),
    Case("ffconcat-absolute", upload("abs.mp4", lambda c: ffconcat([c.secret_path])),
         fails("unsupported_format")),
    Case("ffconcat-relative", upload("rel.mp4", lambda c: ffconcat([c.secret_relative])),
         fails("unsupported_format")),
    Case("ffconcat-protocols", upload("proto.mp4", _concat_protocols),
         fails("unsupported_format")),
    Case("dash-manifest", upload("m.mp4", lambda c: dash_mpd(c.url("mpd/"),
                                                             f"file:{c.secret_path}")),
         fails("unsupported_format")),
    Case("svg-with-urls", upload("s.mp4", lambda c: svg([c.url("svg"), f"file://{c.secret_path}"])),
         fails("unsupported_format")),
    Case("ass-with-urls", upload("a.mp4", lambda c: ass_subtitles(c.secret_path, c.url("ass"))),
         fails("unsupported_format")),
    Case("xml-external-entities",
         upload("e.mp4", lambda c: xml_entity(c.secret_path, c.url("xxe"))),
         fails("invalid_media", "unsupported_format")),
    # pictures and files that lie about their size, length and shape
    Case("png-16000x16000", upload("big.png", lambda c: c.media.png, "image/png"),
         fails("unsupported_format")),
    Case("png-16000x16000-in-matroska", upload("big.mkv", lambda c: c.media.png_mkv,
                                               "video/x-matroska"),
         fails("frame_too_large")),
    Case("mp4-claims-ten-hours", upload("long.mp4", lambda c: c.media.ten_hours),
         fails("input_too_long")),
    Case("matroska-40-streams", upload("many.mkv", lambda c: c.media.many_streams,
                                       "video/x-matroska"),
         fails("too_many_streams")),
    # one frame stamped three hours late (a damaged byte): the file states 2 s, and ffmpeg,
    # left alone, would fill the gap with copies of a frame until the timeout (then retry)
    Case("ts-frame-stamped-3h-late", upload("late.ts", lambda c: c.media.pts_jump, TS),
         COMPLETES),
    Case("ts-frame-stamped-3h-late-mp4", staged_request(
        "late.ts", lambda c: c.media.pts_jump, TS, fields=lambda c: {"preset": "mp4-480p"}),
         COMPLETES),
    # broken files
    Case("empty-file", upload("empty.mp4", lambda c: b""), fails("invalid_media")),
    Case("text-file", upload("t.mp4", lambda c: b"just some text, not a video\n" * 40),
         fails("invalid_media")),
    Case("truncated-moov-at-end", upload("half.mp4", _truncated), fails("invalid_media")),
    *(
        Case(f"bit-flipped-moov-{seed}",
             upload(f"flip{seed}.mp4", _flipped(seed)), DAMAGED)
        for seed in FLIP_SEEDS
    ),
)  # fmt: skip

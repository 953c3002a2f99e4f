"""Steps that draw on the picture: an image (``overlay``) and a caption (``text``).

An image is one more input, read with the image demuxers and decoders only. A caption's
words never enter the graph: they are written to a file the pass names
(``captions/step-N.txt``, relative to the job directory ffmpeg runs in) and drawn with
``expansion=none``, so ``%{...}``, quotes, colons and brackets are only characters.
"""

from __future__ import annotations

import re
from dataclasses import replace

from core.errors import InvalidMedia
from core.media.hardening import InputGuard
from core.media.probe import ProbeResult
from core.steps.chain_pass import Pass, even, refuse
from core.steps.model import Overlay, Subtitles, Text
from core.steps.stage import Attached, CaptionFile
from core.text.subtitle_files import converted_name

# Single pictures, each read as one frame: the pipe demuxers read one file and never a
# sequence; image2 is told the name is no pattern.
IMAGE_FORMATS = ("png_pipe", "jpeg_pipe", "webp_pipe", "image2")
IMAGE_CODECS = ("png", "mjpeg", "webp")
# A font file's path, as the caller resolved it: plain characters only (it is filter text).
_FONT_PATH = re.compile(r"^[A-Za-z0-9/._-]+$")
_TEXT_X = {"left": "{m}", "center": "(w-text_w)/2", "right": "w-text_w-{m}"}
_TEXT_Y = {"top": "{m}", "center": "(h-text_h)/2", "bottom": "h-text_h-{m}"}
_PLACES = {
    "top-left": ("left", "top"), "top": ("center", "top"), "top-right": ("right", "top"),
    "center": ("center", "center"), "bottom-left": ("left", "bottom"),
    "bottom": ("center", "bottom"), "bottom-right": ("right", "bottom"),
}  # fmt: skip


def image_guard(guard: InputGuard) -> InputGuard:
    """The job's caps, with the image demuxers and decoders in place of the media's."""
    return replace(guard, formats=IMAGE_FORMATS, codecs=IMAGE_CODECS)


def image_input(image: Attached, guard: InputGuard) -> list[str]:
    guard = image_guard(guard)
    demuxer = guard.demuxer(image.probe.format_name)
    pattern = ["-pattern_type", "none"] if demuxer == "image2" else []
    return [*guard.flags(demuxer), *pattern, "-i", f"file:{image.path}"]


def enable(start: float | None, end: float | None) -> str:
    """When a drawn step shows, on the transformed timeline (numbers only)."""
    if start is None and end is None:
        return ""
    if end is None:
        return f":enable='gte(t,{start:.3f})'"
    return f":enable='between(t,{start or 0.0:.3f},{end:.3f})'"


def draw_overlay(p: Pass, i: int, step: Overlay, image: Attached, guard: InputGuard) -> None:
    frame_w, frame_h = p.shape.width, p.shape.height
    image_w, image_h = _picture_size(image.probe, image.where)
    w = min(frame_w, even(step.width * frame_w))
    h = even(w * image_h / image_w)
    if h > frame_h:
        refuse(
            f"steps[{i}].width: the image ({w}x{h} px) is larger than the frame "
            f"({frame_w}x{frame_h} px)"
        )
    x, y = _placed(i, step, w, h, frame_w, frame_h)
    k = p.add_input(image_input(image, guard))
    alpha = [f"colorchannelmixer=aa={step.opacity:g}"] if step.opacity < 1.0 else []
    logo = p.label("i")
    p.graph.append(f"[{k}:v:0]{','.join(['format=rgba', f'scale={w}:{h}', *alpha])}{logo}")
    base = p.emit_video()
    out = p.label("v")
    p.graph.append(
        f"{base}{logo}overlay=x={x}:y={y}:eof_action=repeat{enable(step.start, step.end)}{out}"
    )
    p.video = out
    p.vf.append("format=yuv420p")


def _placed(i: int, step: Overlay, w: int, h: int, frame_w: int, frame_h: int) -> tuple[int, int]:
    if step.x is not None and step.y is not None:
        for name, at, size, frame in (("x", step.x, w, frame_w), ("y", step.y, h, frame_h)):
            if at + size > frame:
                refuse(
                    f"steps[{i}].{name}: the image ({name} {at} + {size} px) runs off the "
                    f"frame ({frame} px)"
                )
        return step.x, step.y
    if step.position == "center":
        return (frame_w - w) // 2, (frame_h - h) // 2
    m = step.margin
    if w + m > frame_w or h + m > frame_h:
        refuse(
            f"steps[{i}].margin: a {m} px margin puts the image ({w}x{h} px) off the "
            f"frame ({frame_w}x{frame_h} px)"
        )
    x = m if step.position.endswith("left") else frame_w - w - m
    y = m if step.position.startswith("top") else frame_h - h - m
    return x, y


def _picture_size(probe: ProbeResult, where: str) -> tuple[int, int]:
    if probe.video is not None:
        return probe.video.width, probe.video.height
    for facts in probe.streams:
        if facts.kind == "video" and facts.width > 0 and facts.height > 0:
            return facts.width, facts.height
    raise InvalidMedia(f"{where}: the image has no picture size")


def draw_text(p: Pass, i: int, step: Text) -> None:
    name = f"captions/step-{i}.txt"
    p.files.append(CaptionFile(name=name, text=step.text))
    across, down = _PLACES[step.position]
    x = _TEXT_X[across].format(m=step.margin)
    y = _TEXT_Y[down].format(m=step.margin)
    box = (
        f":box=1:boxcolor={_colour(step.box_color)}:boxborderw={max(2, step.size // 4)}"
        if step.box
        else ""
    )
    p.vf.append(
        f"drawtext=textfile={name}:expansion=none:{_font(p.font)}:fontsize={step.size}"
        f":fontcolor={_colour(step.color)}:x={x}:y={y}{box}{enable(step.start, step.end)}"
    )


def burn_subtitles(p: Pass, i: int, step: Subtitles) -> None:
    """Subtitles drawn by libass from the script the job wrote (:mod:`core.text.subtitle_files`):
    a plain file, so no font attached to a container is loaded, and no ``fontsdir``: the
    fonts are the image's, through fontconfig. A sidecar track draws nothing."""
    if step.mode != "burn":
        return
    if not p.shape.has_video:
        refuse(f"steps[{i}]: subtitles burnt in need a picture; the input has none")
    p.vf.append(f"ass=filename={converted_name(i, 'burn')}")


def _colour(colour: str) -> str:
    """``#rrggbb[aa]`` (checked by the model) -> ffmpeg's ``0xrrggbb[aa]``."""
    return "0x" + colour[1:]


def _font(font: str | None) -> str:
    if font is None:
        return "font=Sans"  # fontconfig's default sans (DejaVu Sans on Debian)
    if not _FONT_PATH.match(font):
        raise ValueError(f"font path {font!r} has characters a filter argument cannot hold")
    return f"fontfile={font}"

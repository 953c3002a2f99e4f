"""The branches of a steps pass that write pictures: ``frames``, ``preview``, ``scenes``.

Each takes its own copy of the transformed picture (a label the compiler's ``split`` gives
it) and writes under ``out / folder``. Every label a branch makes starts with its ``tag``
("s3"), so that branches coexist in one graph. The graph text holds numbers computed here
and file names we choose, nothing a request spells.

Frames are picked by number from the constant-rate picture: the picture shown at time ``t``
is frame ``floor(t * fps)``, so a pick is exact and the count is known before the pass runs.
The preview is a GIF (its palette made in the same graph) or WebP; the scene scan runs on a
scaled-down picture and pictures the first 100 scenes.
"""

from __future__ import annotations

import math
import re
from pathlib import PurePosixPath

from core.errors import InvalidMessage
from core.steps.outputs import MAX_FRAMES, Frames, Preview, Scenes
from core.steps.stage import Branch, Shape

_EPS = 1e-6  # float slack: 0.48 s * 25 fps is 11.999999999999998, frame 12
SCAN_WIDTH = 320  # the scene scan's smallest width (see scenes_branch)
FRAME_PATTERN = "frame-%05d"
SCENE_PATTERN = "scene-%04d.jpg"
# A picture for each of the first 100 scenes (a strobe or a slideshow can cut every frame;
# scenes.json lists them all).
MAX_SCENE_PICTURES = 100
SCAN_FILE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/-]*$")


# --- frames ---------------------------------------------------------------------------


def frame_numbers(step: Frames, shape: Shape, where: str = "steps[?]") -> tuple[int, ...]:
    """The frames a ``frames`` step writes, in order, each once; refused (``invalid_request``,
    naming the field) when more than MAX_FRAMES, or a time past the end, is asked for."""
    if step.every is not None:
        numbers = _every(step.every, shape, where)
    elif step.at is not None:
        numbers = _at(step.at, shape, where)
    else:
        numbers = _count(step.count or 1, shape, where)
    return tuple(sorted(set(numbers)))


def frames_expected(step: Frames, shape: Shape, where: str = "steps[?]") -> int:
    """How many pictures the step writes (two asked times on one frame make one picture)."""
    return len(frame_numbers(step, shape, where))


def frame_times(step: Frames, shape: Shape, where: str = "steps[?]") -> tuple[float, ...]:
    """The time of each picture the step writes, in the order of its numbered files."""
    return tuple(round(n / shape.fps, 6) for n in frame_numbers(step, shape, where))


def frames_branch(
    step: Frames,
    shape: Shape,
    out: PurePosixPath,
    folder: str,
    video: str,
    tag: str,
    where: str = "steps[?]",
) -> Branch:
    numbers = frame_numbers(step, shape, where)
    height = even_height(step.width, shape)
    graph = (
        f"{video}select={_select(step, shape, numbers)},"
        f"scale={step.width}:{height}:flags=lanczos,setsar=1[{tag}frames]"
    )
    target = out / folder / f"{FRAME_PATTERN}.{step.format}"
    args = ("-map", f"[{tag}frames]", "-fps_mode", "passthrough", *_image_codec(step.format),
            "-f", "image2", f"file:{target}")  # fmt: skip
    return Branch(graph=(graph,), args=args, dirs=(folder,))


def _select(step: Frames, shape: Shape, numbers: tuple[int, ...]) -> str:
    """``every`` a whole number of frames: one modulo (the same picks, a short expression);
    otherwise the frame numbers themselves (at most MAX_FRAMES terms)."""
    if step.every is not None:
        per = step.every * shape.fps
        if abs(per - round(per)) < _EPS:
            return f"not(mod(n\\,{round(per)}))"
    return "+".join(f"eq(n\\,{n})" for n in numbers)


def _every(every: float, shape: Shape, where: str) -> list[int]:
    duration = _known_duration(shape, f"{where}.every")
    count = math.ceil(duration / every - _EPS)
    if count > MAX_FRAMES:
        raise _refused(
            f"{where}.every: one picture every {every:g} s of {duration:g} s would write "
            f"{count} pictures, more than {MAX_FRAMES}"
        )
    return [_frame_at(k * every, shape) for k in range(count)]


def _at(times: tuple[float, ...], shape: Shape, where: str) -> list[int]:
    for j, t in enumerate(times):
        if shape.duration > 0 and t >= shape.duration - _EPS:
            raise _refused(
                f"{where}.at[{j}]: {t:g} s is past the end of the picture ({shape.duration:g} s)"
            )
    return [_frame_at(t, shape) for t in times]


def _count(count: int, shape: Shape, where: str) -> list[int]:
    duration = _known_duration(shape, f"{where}.count")
    total = _last_frame(shape) + 1
    if count > total:
        raise _refused(f"{where}.count: {count} pictures asked of a picture of {total} frames")
    # The middle of each of `count` equal parts: never the fade-in's first frame nor the
    # last, and one picture is the middle one.
    return [_frame_at((i + 0.5) * duration / count, shape) for i in range(count)]


def _frame_at(t: float, shape: Shape) -> int:
    return min(math.floor(t * shape.fps + _EPS), _last_frame(shape))


def _last_frame(shape: Shape) -> int:
    if shape.duration <= 0:
        return 2**31
    return max(0, math.ceil(shape.duration * shape.fps - _EPS) - 1)


def _known_duration(shape: Shape, field: str) -> float:
    if shape.duration <= 0:
        raise _refused(
            f"{field}: the picture's duration is unknown, so its pictures cannot be placed"
        )
    return shape.duration


def _image_codec(fmt: str) -> tuple[str, ...]:
    if fmt == "png":
        return ("-c:v", "png")
    if fmt == "webp":
        return ("-c:v", "libwebp", "-lossless", "0", "-q:v", "80")
    return ("-c:v", "mjpeg", "-q:v", "3")


# --- preview --------------------------------------------------------------------------


def preview_branch(
    step: Preview,
    shape: Shape,
    out: PurePosixPath,
    folder: str,
    video: str,
    tag: str,
    where: str = "steps[?]",
) -> Branch:
    """A GIF with a palette made from its own frames (``palettegen`` waits for the end of
    its input, the trimmed few seconds only), or an animated WebP."""
    if shape.duration > 0 and step.start >= shape.duration - _EPS:
        raise _refused(
            f"{where}.start: {step.start:g} s is past the end of the picture ({shape.duration:g} s)"
        )
    # The rate first, then the cut: the cut passes whole frames of the final rate, and
    # nothing after it makes frames (an ``fps`` after ``trim`` may fill up to the time the
    # source ends, which trim's end can report). ``-frames:v`` caps it all the same.
    clip = (
        f"{video}fps={_num(step.fps)},"
        f"trim=start={_num(step.start)}:duration={_num(step.duration)},setpts=PTS-STARTPTS,"
        f"scale={step.width}:{even_height(step.width, shape)}:flags=lanczos,setsar=1"
    )
    label = f"[{tag}preview]"
    file = out / folder / f"preview.{step.format}"
    cap = ("-map", label, "-fps_mode", "passthrough", "-frames:v", str(preview_frames(step, shape)))
    if step.format == "webp":
        webp = ("-c:v", "libwebp", "-loop", "0", "-lossless", "0", "-q:v", "70", "-f", "webp")
        return Branch(graph=(f"{clip}{label}",), args=(*cap, *webp, f"file:{file}"), dirs=(folder,))
    graph = (
        f"{clip},split[{tag}pa][{tag}pb]",
        f"[{tag}pa]palettegen=stats_mode=diff[{tag}pal]",
        f"[{tag}pb][{tag}pal]paletteuse=dither=sierra2_4a{label}",
    )
    gif = ("-c:v", "gif", "-loop", "0", "-f", "gif")
    return Branch(graph=graph, args=(*cap, *gif, f"file:{file}"), dirs=(folder,))


def preview_frames(step: Preview, shape: Shape) -> int:
    """The preview's frames: its duration at its rate, less what runs past the end."""
    seconds = step.duration
    if shape.duration > 0:
        seconds = min(seconds, shape.duration - step.start)
    return max(1, math.ceil(seconds * step.fps - _EPS))


# --- scenes ---------------------------------------------------------------------------


def scenes_branch(
    step: Scenes,
    shape: Shape,
    out: PurePosixPath,
    folder: str,
    video: str,
    tag: str,
    scan_file: str,
) -> Branch:
    """Cuts where the ``scene`` score passes the threshold, the first frame opening scene 1;
    each pick's time and score printed to ``scan_file`` (relative to ffmpeg's working
    directory: :func:`core.steps.scenes.parse_scenes` reads it) and, with thumbnails, its picture.

    The score is computed on a picture scaled down first (to SCAN_WIDTH, or the thumbnails'
    width when larger, never up): far cheaper at 1080p and over. Scaling averages pixels, so
    noise and grain score a little lower than at full size; a hard cut still scores near
    its full-size value. ``select`` scores every frame it is given, picked or not, so each
    score compares a frame with the one just before it.
    """
    if not SCAN_FILE_RE.match(scan_file) or ".." in scan_file.split("/"):
        raise ValueError(f"scan file {scan_file!r}: a relative path of our own names only")
    width = min(max(SCAN_WIDTH, step.width if step.thumbnails else 0), _even(shape.width))
    scan = (
        f"{video}scale={width}:{even_height(width, shape)},"
        f"select=eq(n\\,0)+gt(scene\\,{_num(step.threshold)}),"
        f"metadata=print:file={scan_file}"
    )
    if not step.thumbnails:
        label = f"[{tag}scan]"
        args: tuple[str, ...] = ("-map", label, "-fps_mode", "passthrough", "-f", "null", "-")
        return Branch(graph=(f"{scan}{label}",), args=args, dirs=(folder,))
    label = f"[{tag}thumbs]"
    graph = (
        # the first pictures only; later picks are dropped, not cut (an output that ends
        # would stop the scan with it)
        f"{scan},select=lt(n\\,{MAX_SCENE_PICTURES}),"
        f"scale={step.width}:{even_height(step.width, shape)}:flags=lanczos,setsar=1{label}"
    )
    args = ("-map", label, "-fps_mode", "passthrough", "-c:v", "mjpeg", "-q:v", "3",
            "-f", "image2", f"file:{out / folder / SCENE_PATTERN}")  # fmt: skip
    return Branch(graph=(graph,), args=args, dirs=(folder,))


# --- shared ---------------------------------------------------------------------------


def even_height(width: int, shape: Shape) -> int:
    """The height that keeps the (square-pixel) picture's aspect at ``width``, even."""
    return max(2, round(width * shape.height / shape.width / 2) * 2)


def _even(n: int) -> int:
    return max(2, n - n % 2)


def _num(x: float) -> str:
    """A number as the graph spells it: plain decimals, no exponent."""
    return f"{x:.6f}".rstrip("0").rstrip(".") or "0"


def _refused(message: str) -> InvalidMessage:
    return InvalidMessage(message, code="invalid_request")

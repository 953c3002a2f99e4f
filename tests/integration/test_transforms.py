"""The transform steps, compiled and run by the real ffmpeg on generated media (issue 17).

Each test makes its sources with lavfi in ``tmp_path``, compiles steps with
:func:`core.steps.transforms.compile_transforms`, runs one pass as the pipeline would (caption
files written first, ffmpeg in the job directory) and reads the result back: durations and
sizes by ffprobe, pixels and loudness by decoding.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

import pytest
from pydantic import TypeAdapter

from core.media.hardening import SOURCE_GUARD
from core.media.probe import ProbeResult, parse_probe
from core.media.probe_doc import probe_doc
from core.steps.model import TransformStep
from core.steps.stage import Attached, Chain
from core.steps.transforms import compile_transforms
from tests.integration.sources import make_source
from tests.step_docs import StepDocs

pytestmark = pytest.mark.integration

STEPS = TypeAdapter(list[TransformStep])
TIMEOUT = 120


def ffmpeg(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)


def make(tmp_path: Path, name: str, *lavfi: str, codecs: Sequence[str] = ()) -> Path:
    """A file from lavfi sources (``-f lavfi -i`` each), encoded quickly."""
    inputs = [a for graph in lavfi for a in ("-f", "lavfi", "-i", graph)]
    out = tmp_path / name
    ran = ffmpeg(*inputs, *codecs, "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
                 str(out), cwd=tmp_path)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    return out


def clip(tmp_path: Path, name: str, size: str, fps: int, seconds: float, sound: bool) -> Path:
    video = f"testsrc2=size={size}:rate={fps}:duration={seconds}"
    audio = (f"sine=frequency=440:sample_rate=44100:duration={seconds}",) if sound else ()
    return make(tmp_path, name, video, *audio)


def probe(path: Path) -> ProbeResult:
    doc = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-of", "json", "-show_format", "-show_streams", str(path)],
            capture_output=True,
            text=True,
            check=True,
            timeout=TIMEOUT,
        ).stdout
    )
    return parse_probe(probe_doc(doc), still=path.suffix in (".png", ".jpg", ".webp"))


def attach(where: str, path: Path) -> Attached:
    return Attached(where=where, path=PurePosixPath(path.name), probe=probe(path))


def compile_steps(
    steps: Sequence[Mapping[str, object]], source: Path, attached: Sequence[Attached] = ()
) -> Chain:
    return compile_transforms(
        STEPS.validate_python(steps),
        probe(source),
        PurePosixPath(source.name),
        {a.where: a for a in attached},
        SOURCE_GUARD,
    )


def run_chain(
    chain: Chain, tmp_path: Path, out: str = "out.mp4", codec: Sequence[str] = ("libx264",)
) -> Path:
    """The pass as the pipeline runs it: caption files first, ffmpeg in the job directory."""
    for caption in chain.files:
        (tmp_path / caption.name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / caption.name).write_text(caption.text, encoding="utf-8")
    maps = [a for label in (chain.video, chain.audio) if label for a in ("-map", label)]
    ran = ffmpeg(*chain.inputs, "-filter_complex", ";".join(chain.graph), *maps,
                 "-c:v", *codec, "-preset", "ultrafast", "-c:a", "aac", out,
                 cwd=tmp_path)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    return tmp_path / out


def stream(path: Path, kind: str) -> dict[str, str]:
    doc = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-of", "json", "-show_streams", "-select_streams", kind,
             str(path)], capture_output=True, text=True, check=True, timeout=TIMEOUT,
        ).stdout
    )  # fmt: skip
    streams: list[dict[str, str]] = doc["streams"]
    assert len(streams) == 1, f"{kind}: {streams}"
    return streams[0]


def duration(path: Path, kind: str = "v") -> float:
    return float(stream(path, kind)["duration"])


def size(path: Path) -> tuple[int, int]:
    facts = stream(path, "v")
    return int(facts["width"]), int(facts["height"])


def frame_rgb(path: Path, at: float) -> tuple[int, int, bytes]:
    """The frame shown at ``at`` seconds, as packed RGB."""
    w, h = size(path)
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", f"{at}", "-i", str(path), "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True,
        timeout=TIMEOUT,
    ).stdout  # fmt: skip
    assert len(raw) == w * h * 3
    return w, h, raw


def pixel(frame: tuple[int, int, bytes], x: int, y: int) -> tuple[int, int, int]:
    w, _, raw = frame
    i = (y * w + x) * 3
    return raw[i], raw[i + 1], raw[i + 2]


def mean_volume(path: Path, start: float, length: float) -> float:
    """volumedetect's mean volume (dB) of ``length`` seconds of sound from ``start``."""
    ran = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-ss", f"{start}", "-t", f"{length}",
         "-i", str(path), "-map", "0:a:0", "-af", "volumedetect", "-f", "null", "-"],
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    found = re.search(r"mean_volume: (-?[\d.]+|-inf) dB", ran.stderr)
    assert found, ran.stderr
    return float(found.group(1))


def black_source(tmp_path: Path, seconds: float = 2.0, size: str = "320x240") -> Path:
    return make(
        tmp_path,
        "black.mp4",
        f"color=c=black:s={size}:r=25:d={seconds}",
        f"anullsrc=r=48000:cl=stereo:d={seconds}",
        codecs=["-shortest"],
    )


def test_an_accurate_trim_keeps_its_length_within_a_frame(tmp_path: Path) -> None:
    source = clip(tmp_path, "src.mp4", "320x240", 25, 6.0, sound=True)
    chain = compile_steps([{"op": "trim", "start": 1.5, "duration": 2.0}], source)
    assert "-ss" in chain.inputs
    out = run_chain(chain, tmp_path)
    assert abs(duration(out) - 2.0) <= 1 / 25 + 1e-3
    assert chain.shape.duration == pytest.approx(2.0)


def test_a_later_trim_cuts_in_the_graph(tmp_path: Path) -> None:
    source = clip(tmp_path, "src.mp4", "320x240", 25, 6.0, sound=True)
    steps: StepDocs = [
        {"op": "flip", "direction": "horizontal"},
        {"op": "trim", "start": 1, "end": 3},
    ]
    chain = compile_steps(steps, source)
    assert "-ss" not in chain.inputs
    out = run_chain(chain, tmp_path)
    assert abs(duration(out) - 2.0) <= 1 / 25 + 1e-3


def test_a_keyframe_trim_starts_at_a_keyframe_and_says_so(tmp_path: Path) -> None:
    source = make(
        tmp_path,
        "src.mp4",
        "testsrc2=size=320x240:rate=25:duration=6",
        "sine=duration=6",
        codecs=["-g", "25"],
    )  # a keyframe every second
    chain = compile_steps([{"op": "trim", "start": 2.5, "end": 4, "mode": "keyframe"}], source)
    assert "-noaccurate_seek" in chain.inputs
    assert chain.notes
    out = run_chain(chain, tmp_path)
    # from the keyframe at 2 s to 4 s, both streams
    assert duration(out) == pytest.approx(2.0, abs=0.05)
    assert duration(out, "a") == pytest.approx(2.0, abs=0.05)


def test_a_rotated_phone_clip_is_shaped_as_shown(tmp_path: Path) -> None:
    source = make_source("portrait-rotated", tmp_path, seconds=1.0)
    chain = compile_steps([{"op": "scale", "height": 640}], source)
    out = run_chain(chain, tmp_path)
    assert size(out) == (360, 640) == (chain.shape.width, chain.shape.height)


def test_concat_onto_a_silent_source_has_sound_from_its_clip(tmp_path: Path) -> None:
    first = clip(tmp_path, "first.mp4", "320x240", 25, 1.0, sound=False)
    second = clip(tmp_path, "second.mp4", "320x240", 25, 1.0, sound=True)
    extra = attach("steps[0].inputs[0]", second)
    chain = compile_steps([{"op": "concat", "inputs": [{"key": "second.mp4"}]}], first, [extra])
    out = run_chain(chain, tmp_path)
    assert duration(out, "a") == pytest.approx(2.0, abs=0.1)
    assert mean_volume(out, 0.2, 0.6) < -80
    assert mean_volume(out, 1.2, 0.6) > -40


def test_concat_letterboxes_and_fills_the_silent_clip_with_silence(tmp_path: Path) -> None:
    first = clip(tmp_path, "first.mp4", "640x360", 25, 2.0, sound=True)
    second = clip(tmp_path, "second.mp4", "320x240", 30, 1.0, sound=False)
    extra = attach("steps[0].inputs[0]", second)
    chain = compile_steps([{"op": "concat", "inputs": [{"key": "second.mp4"}]}], first, [extra])
    assert chain.shape.duration == pytest.approx(3.0, abs=0.05)
    out = run_chain(chain, tmp_path)
    assert size(out) == (640, 360)
    assert duration(out) == pytest.approx(3.0, abs=0.1)
    assert duration(out, "a") == pytest.approx(3.0, abs=0.1)  # sound all the way through
    assert mean_volume(out, 0.5, 1.0) > -40  # the first clip's tone
    assert mean_volume(out, 2.5, 0.5) < -80  # the second's silence
    letterbox = frame_rgb(out, 2.5)
    assert max(pixel(letterbox, 5, 180)) < 30  # pillarbox left of the 4:3 clip


def test_crop_rotate_and_scale_give_their_sizes(tmp_path: Path) -> None:
    source = clip(tmp_path, "src.mp4", "640x360", 25, 1.0, sound=False)
    steps = [
        {"op": "crop", "width": 320, "height": 200},
        {"op": "rotate", "degrees": 90},
        {"op": "scale", "width": 100},
    ]
    chain = compile_steps(steps, source)
    out = run_chain(chain, tmp_path)
    assert size(out) == (100, 160) == (chain.shape.width, chain.shape.height)
    assert chain.shape.has_audio is False


def test_crop_to_an_aspect(tmp_path: Path) -> None:
    source = clip(tmp_path, "src.mp4", "640x360", 25, 1.0, sound=False)
    out = run_chain(compile_steps([{"op": "crop", "aspect": "9:16"}], source), tmp_path)
    assert size(out) == (202, 360)


def test_speed_two_halves_the_length_and_keeps_the_sound(tmp_path: Path) -> None:
    source = clip(tmp_path, "src.mp4", "320x240", 25, 4.0, sound=True)
    chain = compile_steps([{"op": "speed", "factor": 2.0}], source)
    out = run_chain(chain, tmp_path)
    assert duration(out) == pytest.approx(2.0, abs=0.1)
    assert duration(out, "a") == pytest.approx(2.0, abs=0.1)
    assert mean_volume(out, 0.5, 1.0) > -40
    assert float(eval(stream(out, "v")["avg_frame_rate"])) == pytest.approx(25, abs=0.5)


def _red_logo(tmp_path: Path, ext: str = "png") -> Attached:
    png = tmp_path / f"logo.{ext}"
    ran = ffmpeg(
        "-f", "lavfi", "-i", "color=c=red:s=64x64", "-frames:v", "1", str(png), cwd=tmp_path
    )
    assert ran.returncode == 0, ran.stderr
    return attach("steps[0].image", png)


@pytest.mark.parametrize("ext", ["png", "jpg", "webp"])
def test_an_overlay_is_drawn_top_right(ext: str, tmp_path: Path) -> None:
    source = black_source(tmp_path)
    step = {"op": "overlay", "image": {"key": f"logo.{ext}"}, "width": 0.2, "margin": 10}
    out = run_chain(compile_steps([step], source, [_red_logo(tmp_path, ext)]), tmp_path)
    frame = frame_rgb(out, 1.0)
    red, green, blue = pixel(frame, 320 - 10 - 32, 10 + 32)  # the logo's middle (64x64)
    assert red > 200
    assert green < 60
    assert blue < 60
    assert max(pixel(frame, 20, 200)) < 30
    assert max(pixel(frame, 320 - 5, 5)) < 30  # the margin stays clear


def test_an_overlay_shows_only_within_its_span(tmp_path: Path) -> None:
    source = black_source(tmp_path, seconds=3.0)
    step = {"op": "overlay", "image": {"key": "logo.png"}, "start": 1.0, "end": 2.0}
    out = run_chain(compile_steps([step], source, [_red_logo(tmp_path)]), tmp_path)
    corner = (320 - 16 - 24, 16 + 8)  # inside the 48 px logo
    assert max(pixel(frame_rgb(out, 0.4), *corner)) < 30
    assert pixel(frame_rgb(out, 1.5), *corner)[0] > 200
    assert max(pixel(frame_rgb(out, 2.6), *corner)) < 30


def bottom_lit(path: Path, at: float = 0.5) -> int:
    """Pixels of the bottom quarter that are not black."""
    frame = frame_rgb(path, at)
    w, h, _ = frame
    return sum(
        1 for y in range(h * 3 // 4, h) for x in range(0, w, 2) if max(pixel(frame, x, y)) > 100
    )


def test_a_caption_draws_in_the_bottom_area(tmp_path: Path) -> None:
    source = black_source(tmp_path)
    chain = compile_steps([{"op": "text", "text": "Hello, world", "size": 32}], source)
    assert [f.name for f in chain.files] == ["captions/step-0.txt"]
    out = run_chain(chain, tmp_path)
    assert bottom_lit(out) > 50
    top = frame_rgb(out, 0.5)
    assert max(pixel(top, 160, 20)) < 30


def test_an_hdr_ten_bit_source_is_conditioned_to_8_bit(tmp_path: Path) -> None:
    source = make_source("ten-bit", tmp_path, seconds=1.0)
    chain = compile_steps([{"op": "scale", "width": 640}], source)
    assert "tonemap" in ";".join(chain.graph)
    out = run_chain(chain, tmp_path)
    assert stream(out, "v")["pix_fmt"] == "yuv420p"
    assert size(out) == (640, 360)

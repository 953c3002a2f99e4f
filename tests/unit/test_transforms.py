"""core.steps.transforms: the inputs, graph text and shape of each transform step, from hand-built
probes, and what a step that this input cannot take is refused with."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from fractions import Fraction
from pathlib import PurePosixPath

import pytest
from pydantic import TypeAdapter

from core.errors import InvalidMessage
from core.media.frames import TONEMAP
from core.media.hardening import SOURCE_GUARD
from core.media.probe import AudioStream, ProbeResult, StreamFacts, VideoStream
from core.steps.model import TransformStep
from core.steps.stage import Attached, Chain
from core.steps.transforms import compile_transforms, tempos
from tests.step_docs import StepDocs

STEPS = TypeAdapter(list[TransformStep])
# the chain's layout, held at its end (transforms._finish)
HELD = "aformat=channel_layouts=stereo"
SOURCE = PurePosixPath("/job/input")
VIDEO = VideoStream(codec="h264", width=1280, height=720, fps=30.0, rotation=0,
                    sample_aspect=Fraction(1), pix_fmt="yuv420p", duration=10.0)  # fmt: skip
AUDIO = AudioStream(codec="aac", channels=2, sample_rate=44100, index=1)
PROBE = ProbeResult(
    format_name="mov,mp4,m4a,3gp,3g2,mj2", duration=10.0, size=1000, video=VIDEO, audio=AUDIO
)
SILENT = replace(PROBE, audio=None)
SOUND_ONLY = ProbeResult(format_name="wav", duration=10.0, size=1000, video=None, audio=AUDIO)
# Statements built from numbers, fixed filter names and the files the pass names.
SAFE = re.compile(r"^[A-Za-z0-9\[\]:=,._/()'+*-]+$")


def chain(
    steps: Sequence[Mapping[str, object]],
    probe: ProbeResult = PROBE,
    attached: Sequence[Attached] = (),
    **kwargs: object,
) -> Chain:
    built = compile_transforms(
        STEPS.validate_python(list(steps)),
        probe,
        SOURCE,
        {a.where: a for a in attached},
        SOURCE_GUARD,
        **kwargs,  # type: ignore[arg-type]
    )
    assert all(SAFE.match(s) for s in built.graph), built.graph
    return built


def refusal(steps: Sequence[dict[str, object]], *args: object) -> str:
    with pytest.raises(InvalidMessage) as caught:
        chain(steps, *args)  # type: ignore[arg-type]
    assert caught.value.code == "invalid_request"
    return caught.value.message


def clip(where: str, video: VideoStream | None, audio: AudioStream | None) -> Attached:
    probe = ProbeResult(format_name="matroska,webm", duration=2.0, size=1, video=video, audio=audio)
    return Attached(where=where, path=PurePosixPath(f"/job/{where}"), probe=probe)


def image(where: str = "steps[0].image", width: int = 100, height: int = 50) -> Attached:
    facts = (StreamFacts(index=0, kind="video", codec="png", width=width, height=height),)
    probe = ProbeResult(
        format_name="png_pipe", duration=0.0, size=1, video=None, audio=None, streams=facts
    )
    return Attached(where=where, path=PurePosixPath("/job/logo"), probe=probe)


def video_of(c: Chain) -> str:
    return next(s for s in c.graph if s.endswith("[vmain]"))


# --- inputs and conditioning ---


def test_the_main_input_has_the_guard_the_decode_args_and_a_file_path() -> None:
    c = chain([], decode_args=("-hwaccel", "none"))
    flags = SOURCE_GUARD.flags("mov")
    assert c.inputs == (*flags, "-hwaccel", "none", "-i", "file:/job/input")


def test_conditioning_alone_ends_in_both_labels() -> None:
    c = chain([])
    assert c.graph == (
        "[0:0]scale=1280:720,setsar=1,fps=30,format=yuv420p[vmain]",
        "[0:1]aresample=48000,aformat=channel_layouts=stereo[amain]",
    )
    assert (c.video, c.audio) == ("[vmain]", "[amain]")
    assert (c.shape.width, c.shape.height, c.shape.fps, c.shape.duration) == (1280, 720, 30, 10)


def test_conditioning_deinterlaces_tone_maps_squares_and_caps_the_rate() -> None:
    odd = replace(VIDEO, width=720, height=480, sample_aspect=Fraction(32, 27), fps=120.0,
                  field_order="tt", color_transfer="smpte2084")  # fmt: skip
    c = chain([], replace(PROBE, video=odd))
    assert video_of(c) == (
        f"[0:0]bwdif=mode=send_frame:parity=auto:deint=interlaced,{TONEMAP},"
        "scale=854:480,setsar=1,fps=60,format=yuv420p[vmain]"
    )
    assert (c.shape.width, c.shape.height, c.shape.fps) == (854, 480, 60.0)


def test_a_rotated_source_is_shaped_as_shown() -> None:
    c = chain([], replace(PROBE, video=replace(VIDEO, rotation=90)))
    assert (c.shape.width, c.shape.height) == (720, 1280)


def test_mono_stays_mono() -> None:
    c = chain([], replace(PROBE, audio=replace(AUDIO, channels=1)))
    assert c.graph[-1] == "[0:1]aresample=48000,aformat=channel_layouts=mono[amain]"
    assert c.shape.channels == 1


def test_no_sound_anywhere_means_no_amain_unless_an_output_needs_it() -> None:
    c = chain([], SILENT)
    assert c.audio is None
    assert not any("[amain]" in s for s in c.graph)
    needed = chain([], SILENT, need_audio=True)
    assert "anullsrc=r=48000:cl=stereo:d=10.000[s1]" in needed.graph
    assert needed.graph[-1] == f"[s1]{HELD}[amain]"
    assert needed.shape.has_audio


def test_a_source_without_picture_takes_sound_steps_only() -> None:
    c = chain([{"op": "trim", "start": 1, "end": 3}, {"op": "speed", "factor": 2}], SOUND_ONLY)
    assert c.video is None
    assert not c.shape.has_video
    assert c.shape.duration == pytest.approx(1.0)
    assert "crop needs a picture" in refusal([{"op": "crop", "aspect": "1:1"}], SOUND_ONLY)


# --- trim ---


def test_a_first_trim_seeks_the_input() -> None:
    c = chain([{"op": "trim", "start": 2, "duration": 3}])
    assert c.inputs[-6:] == ("-ss", "2.000", "-t", "3.000", "-i", "file:/job/input")
    assert not any("trim" in s for s in c.graph)
    assert c.shape.duration == 3.0


def test_a_keyframe_trim_seeks_without_accuracy_and_cuts_the_end_in_the_graph() -> None:
    c = chain([{"op": "trim", "start": 4, "end": 6, "mode": "keyframe"}])
    assert c.inputs[-5:-2] == ("-noaccurate_seek", "-ss", "4.000")
    assert video_of(c).startswith("[0:0]trim=end=2.000,setpts=PTS-STARTPTS,scale=1280:720,")
    assert c.graph[-1].startswith("[0:1]atrim=end=2.000,asetpts=PTS-STARTPTS,aresample=")
    assert any("keyframe at or before 4 s" in n for n in c.notes)
    assert c.shape.duration == 2.0
    open_ended = chain([{"op": "trim", "start": 4, "mode": "keyframe"}], SILENT)
    assert video_of(open_ended).startswith("[0:0]setpts=PTS-STARTPTS,scale=")
    assert open_ended.shape.duration == 6.0


def test_a_later_trim_cuts_both_streams_in_the_graph() -> None:
    c = chain([{"op": "flip", "direction": "vertical"}, {"op": "trim", "start": 1, "end": 9}])
    assert "-ss" not in c.inputs
    assert video_of(c).endswith(",vflip,trim=start=1.000:end=9.000,setpts=PTS-STARTPTS[vmain]")
    assert c.graph[-1].endswith(f",atrim=start=1.000:end=9.000,asetpts=PTS-STARTPTS,{HELD}[amain]")
    assert c.shape.duration == 8.0


def test_a_trim_past_the_end_keeps_up_to_the_end() -> None:
    assert chain([{"op": "trim", "start": 8, "duration": 5}]).shape.duration == 2.0


def test_trim_refusals() -> None:
    message = refusal([{"op": "trim", "start": 30}])
    assert message == "steps[0].start: 30 s is past the end of the input (10.0 s)"
    late = [{"op": "fps", "fps": 25}, {"op": "trim", "start": 1, "mode": "keyframe"}]
    assert refusal(late) == "steps[1].mode: a keyframe trim must be the first step"
    twice = [{"op": "trim", "start": 5}, {"op": "trim", "start": 6}]
    assert refusal(twice) == "steps[1].start: 6 s is past the end of the input (5.0 s)"


# --- concat ---

CONCAT = [{"op": "concat", "inputs": [{"key": "a.mkv"}, {"key": "b.mkv"}]}]


def test_concat_fits_each_clip_and_sums_the_lengths() -> None:
    small = replace(VIDEO, width=640, height=480, fps=25.0, duration=2.0)
    clips = [clip("steps[0].inputs[0]", small, AUDIO), clip("steps[0].inputs[1]", small, None)]
    c = chain(CONCAT, attached=clips)
    assert c.inputs.count("-i") == 3
    assert "file:/job/steps[0].inputs[1]" in c.inputs
    assert c.inputs[c.inputs.index("file:/job/steps[0].inputs[0]") - 3] == "-f"
    text = ";".join(c.graph)
    assert "[1:0]scale=960:720,setsar=1,pad=1280:720:160:0:color=black,fps=30," in text
    assert "[1:1]aresample=48000,aformat=channel_layouts=stereo,asetpts=PTS-STARTPTS" in text
    assert "anullsrc=r=48000:cl=stereo:d=2.000" in text  # the second clip's silence
    assert "concat=n=3:v=1:a=1" in text
    assert c.shape.duration == pytest.approx(14.0)
    assert (c.shape.width, c.shape.height) == (1280, 720)


def test_concat_onto_a_silent_source_gives_it_silence() -> None:
    extra = clip("steps[0].inputs[0]", VIDEO, AUDIO)
    c = chain([{"op": "concat", "inputs": [{"key": "a"}]}], SILENT, [extra])
    assert "anullsrc=r=48000:cl=stereo:d=10.000" in ";".join(c.graph)
    assert c.shape.has_audio


def test_concat_without_any_sound_has_none() -> None:
    extra = clip("steps[0].inputs[0]", VIDEO, None)
    c = chain([{"op": "concat", "inputs": [{"key": "a"}]}], SILENT, [extra])
    assert "concat=n=2:v=1:a=0" in ";".join(c.graph)
    assert c.audio is None


def test_a_clip_without_picture_becomes_black_and_sound_only_sources_concat_sound() -> None:
    extra = clip("steps[0].inputs[0]", None, AUDIO)
    c = chain([{"op": "concat", "inputs": [{"key": "a"}]}], PROBE, [extra])
    assert "color=c=black:s=1280x720:r=30:d=2.000" in ";".join(c.graph)
    s = chain([{"op": "concat", "inputs": [{"key": "a"}]}], SOUND_ONLY, [extra])
    assert "concat=n=2:v=0:a=1" in ";".join(s.graph)
    assert s.shape.duration == 12.0


# --- picture steps ---


@pytest.mark.parametrize(
    ("step", "filters", "size"),
    [
        ({"op": "crop", "width": 640, "height": 360}, "crop=640:360:320:180", (640, 360)),
        ({"op": "crop", "width": 101, "height": 99, "x": 0, "y": 5}, "crop=100:98:0:5", (100, 98)),
        ({"op": "crop", "aspect": "9:16"}, "crop=404:720:438:0", (404, 720)),
        ({"op": "crop", "aspect": "4:1"}, "crop=1280:320:0:200", (1280, 320)),
        ({"op": "scale", "width": 640}, "scale=640:360:flags=bicubic,setsar=1", (640, 360)),
        ({"op": "scale", "height": 101}, "scale=180:100:flags=bicubic,setsar=1", (180, 100)),
        (
            {"op": "scale", "width": 99, "height": 99},
            "scale=100:100:flags=bicubic,setsar=1",
            (100, 100),
        ),
        ({"op": "rotate", "degrees": 90}, "transpose=1", (720, 1280)),
        ({"op": "rotate", "degrees": 270}, "transpose=2", (720, 1280)),
        ({"op": "rotate", "degrees": 180}, "hflip,vflip", (1280, 720)),
        ({"op": "flip", "direction": "horizontal"}, "hflip", (1280, 720)),
        ({"op": "flip", "direction": "vertical"}, "vflip", (1280, 720)),
        ({"op": "fps", "fps": 23.976}, "fps=23.976", (1280, 720)),
    ],
)
def test_picture_steps(step: dict[str, object], filters: str, size: tuple[int, int]) -> None:
    c = chain([step])
    assert video_of(c) == f"[0:0]scale=1280:720,setsar=1,fps=30,format=yuv420p,{filters}[vmain]"
    assert (c.shape.width, c.shape.height) == size
    assert c.shape.width % 2 == 0
    assert c.shape.height % 2 == 0


def test_fps_sets_the_shapes_rate() -> None:
    assert chain([{"op": "fps", "fps": 12}]).shape.fps == 12.0


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"op": "crop", "width": 2000, "height": 100},
         "steps[0].width: 2000 px is wider than the frame (1280 px)"),
        ({"op": "crop", "width": 100, "height": 800},
         "steps[0].height: 800 px is taller than the frame (720 px)"),
        ({"op": "crop", "width": 100, "height": 100, "x": 1200, "y": 0},
         "steps[0].x: the window (x 1200 + width 100) runs off the frame (1280 px)"),
        ({"op": "crop", "width": 100, "height": 100, "x": 0, "y": 700},
         "steps[0].y: the window (y 700 + height 100) runs off the frame (720 px)"),
        ({"op": "crop", "aspect": "1:999"}, "steps[0].aspect: 1:999 leaves a window under 16 px"),
        ({"op": "scale", "width": 7680, "height": 7680},
         "steps[0].width: 7680x7680 is over 7680x4320"),
        ({"op": "scale", "height": 4400}, "steps[0].height: 7822x4400 is over 7680x4320"),
        ({"op": "scale", "width": 16}, "steps[0].width: 16x8 has a side under 16 px"),
    ],
)  # fmt: skip
def test_picture_refusals(step: dict[str, object], message: str) -> None:
    assert refusal([step]) == message


def test_a_portrait_8k_scale_is_allowed() -> None:
    c = chain([{"op": "rotate", "degrees": 90}, {"op": "scale", "height": 7680}])
    assert (c.shape.width, c.shape.height) == (4320, 7680)


# --- speed ---


def test_speed_keeps_the_rate_and_the_pitch() -> None:
    c = chain([{"op": "speed", "factor": 2}])
    assert video_of(c).endswith(",setpts=PTS/2,fps=30[vmain]")
    assert c.graph[-1].endswith(f",atempo=2,{HELD}[amain]")
    assert c.shape.duration == 5.0
    slow = chain([{"op": "speed", "factor": 0.25}])
    assert slow.graph[-1].endswith(f",atempo=0.5,atempo=0.5,{HELD}[amain]")
    assert slow.shape.duration == 40.0


@pytest.mark.parametrize("factor", [0.25, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0])
def test_tempos_multiply_to_the_factor_each_within_range(factor: float) -> None:
    parts = tempos(factor)
    assert all(0.5 <= t <= 2.0 for t in parts)
    assert math.prod(parts) == pytest.approx(factor)


def test_the_total_length_after_concat_and_speed() -> None:
    extra = clip("steps[0].inputs[0]", VIDEO, AUDIO)
    steps: StepDocs = [{"op": "concat", "inputs": [{"key": "a"}]}, {"op": "speed", "factor": 0.5}]
    assert chain(steps, attached=[extra]).shape.duration == pytest.approx(40.0)  # (10 + 10) / 0.5


# --- overlay ---


def test_an_overlay_scales_places_and_times_the_image() -> None:
    step = {"op": "overlay", "image": {"key": "logo.png"}, "opacity": 0.5, "start": 1, "end": 2}
    c = chain([step], attached=[image()])
    assert c.inputs[-2:] == ("-i", "file:/job/logo")
    guard_part = c.inputs[c.inputs.index("file:/job/input") + 1 :]
    assert guard_part[guard_part.index("-codec_whitelist") + 1] == "png,mjpeg,webp"
    assert guard_part[guard_part.index("-f") + 1] == "png_pipe"
    assert "[1:v:0]format=rgba,scale=192:96,colorchannelmixer=aa=0.5[i1]" in c.graph
    assert any(
        s.endswith("[i1]overlay=x=1072:y=16:eof_action=repeat:enable='between(t,1.000,2.000)'[v3]")
        for s in c.graph
    )
    assert video_of(c) == "[v3]format=yuv420p[vmain]"


@pytest.mark.parametrize(
    ("fields", "xy"),
    [
        ({"position": "top-left", "margin": 0}, (0, 0)),
        ({"position": "bottom-left"}, (16, 608)),
        ({"position": "bottom-right", "margin": 20}, (1068, 604)),
        ({"position": "center"}, (544, 312)),
        ({"x": 5, "y": 7}, (5, 7)),
    ],
)
def test_overlay_positions(fields: dict[str, object], xy: tuple[int, int]) -> None:
    c = chain([{"op": "overlay", "image": {"key": "i"}, **fields}], attached=[image()])
    assert any(f"overlay=x={xy[0]}:y={xy[1]}:eof_action=repeat[" in s for s in c.graph)


def test_an_image_only_from_start_is_enabled_from_start() -> None:
    c = chain([{"op": "overlay", "image": {"key": "i"}, "start": 3}], attached=[image()])
    assert any(":enable='gte(t,3.000)'" in s for s in c.graph)


def test_overlay_refusals() -> None:
    tall = [{"op": "overlay", "image": {"key": "i"}, "width": 0.5}]
    assert refusal(tall, PROBE, [image(height=200)]) == (
        "steps[0].width: the image (640x1280 px) is larger than the frame (1280x720 px)"
    )
    off = [{"op": "overlay", "image": {"key": "i"}, "x": 1200, "y": 0}]
    assert refusal(off, PROBE, [image()]) == (
        "steps[0].x: the image (x 1200 + 192 px) runs off the frame (1280 px)"
    )
    margin = [{"op": "overlay", "image": {"key": "i"}, "margin": 700}]
    assert refusal(margin, PROBE, [image()]).startswith("steps[0].margin: a 700 px margin")


# --- text ---


def test_a_caption_is_a_file_the_graph_names() -> None:
    words = "Bonjour: l'été [x]; %{pts}"
    c = chain([{"op": "fps", "fps": 25}, {"op": "text", "text": words, "box": True}])
    assert [(f.name, f.text) for f in c.files] == [("captions/step-1.txt", words)]
    assert video_of(c).endswith(
        ",fps=25,drawtext=textfile=captions/step-1.txt:expansion=none:font=Sans:fontsize=36"
        ":fontcolor=0xffffff:x=(w-text_w)/2:y=h-text_h-24"
        ":box=1:boxcolor=0x00000099:boxborderw=9[vmain]"
    )


def test_caption_places_colours_spans_and_fonts() -> None:
    step = {
        "op": "text",
        "text": "hi",
        "position": "top-right",
        "margin": 10,
        "color": "#FF000080",
        "start": 2,
    }
    c = chain([step], font="/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    assert ":fontfile=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:" in video_of(c)
    assert ":fontcolor=0xFF000080:x=w-text_w-10:y=10:enable='gte(t,2.000)'" in video_of(c)
    with pytest.raises(ValueError, match="font path"):
        chain([step], font="/fonts/a:b.ttf")

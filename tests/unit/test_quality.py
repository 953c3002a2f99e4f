"""The quality pass's argv and graph, and its report parsed from real stats files."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from core.errors import TranscodeFailed
from core.steps.quality import (
    NO_VMAF,
    PSNR_CAP,
    QualityReport,
    RenditionRef,
    common_size,
    parse_quality,
    quality_argv,
    stats_files,
)

INPUTS = ("-i", "file:/job/in/source.mp4", "-loop", "1", "-i", "file:/job/in/logo.png")
GRAPH = ("[0:v][1:v]overlay=10:10,fps=25,format=yuv420p,setsar=1[vmain]", "[0:a]anull[amain]")
RENDITIONS = (
    RenditionRef("720p", PurePosixPath("/job/out/encode/720p.mp4")),
    RenditionRef("360p", PurePosixPath("/job/scratch/360p-joined.mp4")),
)
SIZE = "scale=1280:720:flags=bicubic,format=yuv420p,setsar=1,settb=AVTB,setpts=PTS-STARTPTS"


def test_the_reference_is_split_once_per_comparison_and_each_rendition_follows_the_inputs() -> None:
    argv = quality_argv(
        INPUTS, GRAPH, "[vmain]", RENDITIONS, 1280, 720, "quality", discard_audio=("[amain]",)
    )
    at = argv.index("-filter_complex")
    assert argv[:at] == (*INPUTS, "-i", "file:/job/out/encode/720p.mp4",
                         "-i", "file:/job/scratch/360p-joined.mp4")  # fmt: skip
    assert argv[at + 1].split(";") == [
        *GRAPH,
        f"[vmain]{SIZE},split=4[qr0s][qr0p][qr1s][qr1p]",
        "[amain]anullsink",
        f"[2:v:0]{SIZE},split[qd0s][qd0p]",
        "[qd0s][qr0s]ssim=stats_file=quality/ssim-0.log:shortest=1[qs0]",
        "[qd0p][qr0p]psnr=stats_file=quality/psnr-0.log:shortest=1[qp0]",
        f"[3:v:0]{SIZE},split[qd1s][qd1p]",
        "[qd1s][qr1s]ssim=stats_file=quality/ssim-1.log:shortest=1[qs1]",
        "[qd1p][qr1p]psnr=stats_file=quality/psnr-1.log:shortest=1[qp1]",
    ]
    assert argv[at + 2 :] == ("-map", "[qs0]", "-map", "[qp0]", "-map", "[qs1]", "-map", "[qp1]",
                              "-f", "null", "-")  # fmt: skip
    assert stats_files("quality", 1) == ("quality/ssim-1.log", "quality/psnr-1.log")


@pytest.mark.parametrize("bad", ["a:b", "../up", "/abs", "sp ace"])
def test_the_stats_dir_is_a_plain_relative_path(bad: str) -> None:
    with pytest.raises(ValueError, match="stats dir"):
        quality_argv(INPUTS, GRAPH, "[vmain]", RENDITIONS, 1280, 720, bad)


def test_nothing_to_compare_is_a_bug() -> None:
    with pytest.raises(ValueError, match="no rendition"):
        quality_argv(INPUTS, GRAPH, "[vmain]", (), 1280, 720, "q")


def test_the_common_size_is_the_largest_renditions() -> None:
    assert common_size([(640, 360), (1920, 1080), (1280, 720)]) == (1920, 1080)


# Captured from ffmpeg 5.1: testsrc2 320x240 against its libx264 crf 18 encode.
SSIM = """n:1 Y:0.998414 U:0.998329 V:0.999269 All:0.998542 (28.362271)
n:2 Y:0.997437 U:0.997309 V:0.998739 All:0.997633 (26.257594)
"""
PSNR = (  # each line as ffmpeg writes it, a space at its end
    "n:1 mse_avg:0.62 mse_y:0.56 mse_u:0.79 mse_v:0.74 psnr_avg:50.17 psnr_y:50.67 "
    "psnr_u:49.17 psnr_v:49.47 \n"
    "n:2 mse_avg:1.28 mse_y:1.13 mse_u:1.61 mse_v:1.56 psnr_avg:47.06 psnr_y:47.60 "
    "psnr_u:46.07 psnr_v:46.20 \n"
)
# Captured from ffmpeg 5.1: a picture against itself.
SSIM_SAME = "n:1 Y:1.000000 U:1.000000 V:1.000000 All:1.000000 (inf)\n"
PSNR_SAME = (
    "n:1 mse_avg:0.00 mse_y:0.00 mse_u:0.00 mse_v:0.00 psnr_avg:inf psnr_y:inf psnr_u:inf "
    "psnr_v:inf \n"
)


def test_scores_from_real_stats() -> None:
    q = parse_quality(SSIM, PSNR, "720p")
    assert q.name == "720p"
    assert q.frames == 2
    assert q.ssim_mean == pytest.approx((0.998542 + 0.997633) / 2)
    assert q.ssim_min == 0.997633
    assert q.psnr_mean == pytest.approx(48.615)
    assert q.psnr_min == 47.06
    assert q.psnr_capped_frames == 0


def test_identical_frames_are_capped_and_counted() -> None:
    q = parse_quality(SSIM + SSIM_SAME, PSNR + PSNR_SAME.replace("n:1", "n:3"), "x")
    assert q.frames == 3
    assert q.psnr_capped_frames == 1
    assert q.psnr_mean == pytest.approx((50.17 + 47.06 + PSNR_CAP) / 3, abs=1e-3)
    report = QualityReport(width=320, height=240, renditions=(q,))
    dumped = report.model_dump_json()
    assert "Infinity" not in dumped
    assert "inf" not in dumped.replace("info", "")
    assert report.vmaf is None
    assert report.vmaf_reason == NO_VMAF


def test_empty_stats_mean_nothing_was_compared() -> None:
    with pytest.raises(TranscodeFailed, match="no frame of 720p"):
        parse_quality("", PSNR, "720p")

"""handlers.demo_steps: one line per output step of a completed steps job."""

from __future__ import annotations

import pytest

from handlers.demo_steps import print_steps


def test_each_step_is_summed_from_the_outputs_that_name_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    quality = {
        "width": 1280, "height": 720, "psnr_cap": 100.0, "vmaf": None, "vmaf_reason": "x",
        "renditions": [{"name": "encode/720p", "frames": 90, "ssim_mean": 0.9871,
                        "ssim_min": 0.95, "psnr_mean": 41.26, "psnr_min": 38.0,
                        "psnr_capped_frames": 0}],
    }  # fmt: skip
    scenes = {
        "threshold": 0.3,
        "count": 2,
        "scenes": [
            {"index": 1, "start": 0.0, "end": 4.0, "score": 0.0, "thumbnail": "scene-0001.jpg"},
            {"index": 2, "start": 4.0, "end": 9.0, "score": 0.8, "thumbnail": "scene-0002.jpg"},
        ],
    }
    data = {
        "outputs": [
            {"key": "o/j/frames/frame-00001.jpg", "size": 100, "step": "frames"},
            {"key": "o/j/frames/frame-00002.jpg", "size": 150, "step": "frames"},
            {"key": "o/j/scenes/scenes.json", "size": 10, "step": "scenes"},
        ],
        "steps": [
            {"name": "frames", "op": "frames", "preset": None},
            {"name": "scenes", "op": "scenes", "preset": None, "scenes": scenes},
            {"name": "quality", "op": "quality", "preset": None, "quality": quality},
        ],
    }
    print_steps(data)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("step       frames (frames)")
    assert "2 files, 250 bytes" in lines[0]
    assert "2 scenes, cuts at 4.00 s" in lines[1]
    assert "encode/720p SSIM 0.9871 PSNR 41.3 dB" in lines[2]


def test_a_loudness_step_shows_its_mode_and_figures(capsys: pytest.CaptureFixture[str]) -> None:
    loudness = {
        "mode": "linear",
        "target_lufs": -16.0,
        "true_peak_db": -1.5,
        "lra": 11.0,
        "gain_db": 5.8,
        "input": {"integrated_lufs": -21.8, "true_peak_db": -20.76, "lra": 0.1},
        "output": {"integrated_lufs": -16.02, "true_peak_db": -14.96, "lra": 0.0},
    }
    measure = {**loudness, "mode": "measure", "gain_db": None, "output": None}
    print_steps(
        {
            "outputs": [],
            "steps": [
                {"name": "loudness", "op": "loudness", "preset": None, "loudness": loudness},
                {"name": "loudness", "op": "loudness", "preset": None, "loudness": measure},
            ],
        }
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("; linear: -21.8 LUFS -20.8 dBTP -> -16.0 LUFS -15.0 dBTP")
    assert lines[1].endswith("; measure: -21.8 LUFS -20.8 dBTP")


def test_a_ladder_of_several_tracks_shows_each_track(capsys: pytest.CaptureFixture[str]) -> None:
    quiet = {"integrated_lufs": -35.0, "true_peak_db": -31.0, "lra": 0.1}
    loud = {"integrated_lufs": -8.0, "true_peak_db": -4.0, "lra": 0.1}
    done = {"integrated_lufs": -16.0, "true_peak_db": -12.0, "lra": 0.0}
    tracks = [
        {"track": 0, "language": "eng", "mode": "linear", "input": quiet, "output": done},
        {"track": 1, "language": None, "mode": "linear", "input": loud, "output": done},
    ]
    loudness = {"mode": "linear", "input": quiet, "output": done, "tracks": tracks}
    print_steps(
        {
            "outputs": [],
            "steps": [
                {"name": "encode", "op": "encode", "preset": "web-hls", "loudness": loudness},
            ],
        }
    )
    (line,) = capsys.readouterr().out.splitlines()
    assert line.endswith(
        "; eng linear: -35.0 LUFS -31.0 dBTP -> -16.0 LUFS -12.0 dBTP"
        "; track 1 linear: -8.0 LUFS -4.0 dBTP -> -16.0 LUFS -12.0 dBTP"
    )

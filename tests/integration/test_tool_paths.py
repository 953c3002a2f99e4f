"""Which ffmpeg runs: the one FFAPI_FFMPEG names (else the first on PATH at start), resolved
once to an absolute path; an ffmpeg put early on PATH does not run, and `ffapi doctor` shows
the paths that do."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from handlers import cli
from infra.ffmpeg import FfmpegMedia, make_sample_clip

from .conftest import use_tools_for_test

pytestmark = pytest.mark.integration

FFAPI = str(Path(sys.executable).parent / "ffapi")
REAL_FFMPEG, REAL_FFPROBE = shutil.which("ffmpeg"), shutil.which("ffprobe")


def planted_ffmpeg(tmp_path: Path) -> tuple[Path, Path]:
    """An `ffmpeg` script in a directory of its own: it notes that it ran, then runs the real
    one (so a run through it still works). Returns the script and its note."""
    assert REAL_FFMPEG is not None
    bindir, note = tmp_path / "planted", tmp_path / "planted-ran"
    bindir.mkdir()
    script = bindir / "ffmpeg"
    script.write_text(f'#!/bin/sh\necho "$@" >> {note}\nexec {REAL_FFMPEG} "$@"\n')
    script.chmod(0o755)
    return script, note


def doctor(env: dict[str, str]) -> dict[str, object]:
    result = subprocess.run(
        [FFAPI, "doctor", "--json"], env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert isinstance(shown, dict)
    return shown


def test_ffapi_ffmpeg_wins_over_an_ffmpeg_first_on_path(tmp_path: Path) -> None:
    script, note = planted_ffmpeg(tmp_path)
    env = {**os.environ, "PATH": f"{script.parent}{os.pathsep}{os.environ['PATH']}"}
    env["FFAPI_FFMPEG"] = str(REAL_FFMPEG)

    shown = doctor(env)

    assert shown["tools"] == {"ffmpeg": REAL_FFMPEG, "ffprobe": REAL_FFPROBE}
    assert not note.exists()  # the doctor's listings and test encodes ran the real one


def test_unset_the_first_on_path_at_start_runs_and_the_doctor_says_which(tmp_path: Path) -> None:
    script, note = planted_ffmpeg(tmp_path)
    env = {**os.environ, "PATH": f"{script.parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("FFAPI_FFMPEG", None)

    shown = doctor(env)

    assert shown["tools"] == {"ffmpeg": str(script), "ffprobe": REAL_FFPROBE}
    assert "-encoders" in note.read_text()  # what the doctor shows is what ran
    text = subprocess.run([FFAPI, "doctor"], env=env, capture_output=True, text=True, timeout=180)
    assert f"ffmpeg      {script} (" in text.stdout
    assert f"ffprobe     {REAL_FFPROBE}" in text.stdout


def test_a_path_changed_after_start_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, note = planted_ffmpeg(tmp_path)
    use_tools_for_test(monkeypatch)  # resolved "at start", from this PATH
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")

    clip = asyncio.run(make_sample_clip(tmp_path / "clip.mp4", 1, 160, 90, 10))
    probe = asyncio.run(FfmpegMedia().probe(clip))

    assert not note.exists()
    assert {s.codec_type for s in probe.streams} == {"video", "audio"}


def test_a_setting_that_names_no_executable_stops_the_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FFAPI_FFPROBE", str(tmp_path / "no-such-ffprobe"))

    assert cli.main(["doctor"]) == 3

    err = capsys.readouterr().err
    assert f"FFAPI_FFPROBE={tmp_path / 'no-such-ffprobe'}: not an executable file" in err

"""`ffapi doctor` says which presets the image's ffmpeg can run: in each image, what it can do.

The real build (Debian's ffmpeg, the cpu image's) runs every shipped preset; an ffmpeg whose
`-encoders` list lacks libsvtav1 (a wrapper over the real one) makes web-av1 the one preset
the doctor names as not runnable, and says why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from handlers.doctor import preset_support
from infra.settings import Settings

pytestmark = pytest.mark.integration

FFAPI = str(Path(sys.executable).parent / "ffapi")
REAL_FFMPEG = shutil.which("ffmpeg")


def ffmpeg_without_svt_av1(tmp_path: Path) -> Path:
    """The real ffmpeg, with libsvtav1 left out of its encoder list (as a build without it)."""
    assert REAL_FFMPEG is not None
    script = tmp_path / "ffmpeg"
    script.write_text(
        "#!/bin/bash\n"
        'case " $* " in *" -encoders "*) '
        f'"{REAL_FFMPEG}" "$@" | grep -v libsvtav1; exit "${{PIPESTATUS[0]}}";; esac\n'
        f'exec "{REAL_FFMPEG}" "$@"\n'
    )
    script.chmod(0o755)
    return script


def doctor(env: dict[str, str], *flags: str) -> str:
    result = subprocess.run(
        [FFAPI, "doctor", *flags], env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FFAPI_")}


def test_the_real_build_runs_every_shipped_preset() -> None:
    shown = json.loads(doctor(clean_env(), "--json"))
    shipped = Settings().presets().presets
    assert set(shown["presets"]) == set(shipped)
    assert shown["presets"]["web-av1"] == "ok"  # Debian's ffmpeg has SVT-AV1
    assert set(shown["presets"].values()) == {"ok"}


def test_a_build_without_svt_av1_cannot_run_web_av1(tmp_path: Path) -> None:
    env = {**clean_env(), "FFAPI_FFMPEG": str(ffmpeg_without_svt_av1(tmp_path))}
    shown = json.loads(doctor(env, "--json"))
    lacking = {name: v for name, v in shown["presets"].items() if v != "ok"}
    assert lacking == {"web-av1": "no libsvtav1 in this ffmpeg build"}
    text = doctor(env)
    assert "presets     web-av1: no libsvtav1 in this ffmpeg build" in text.splitlines()
    [runs] = [line for line in text.splitlines() if line.endswith("(the CPU tier runs them)")]
    assert "web-hls" in runs
    assert "web-av1" not in runs


def test_an_unreadable_encoder_list_is_said_to_be_unknown() -> None:
    verdicts = preset_support(Settings().presets(), None)
    assert set(verdicts.values()) == {"unknown: ffmpeg -encoders failed"}

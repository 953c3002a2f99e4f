"""The Dockerfile, read as text: CI has no Docker daemon, so this is what can be checked there.

Two final targets (gpu, cpu), pinned inputs, the GPU ffmpeg's configure line, and what each
image runs: as whom, with which health check and command. The health check's one-liner is
also run here, against a local HTTP server.
"""

from __future__ import annotations

import http.server
import json
import re
import shlex
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

import pytest
import typer

from core.media.accel import AccelMode
from handlers import cli
from infra.settings import Settings

ROOT = Path(__file__).parents[2]
TARGETS = ("gpu", "cpu")


@dataclass
class Stage:
    base: str  # the FROM image, global ARGs substituted
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (KEYWORD, arguments)

    def args_of(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        """The instruction in force (the last one); a missing one fails the test."""
        found = self.args_of(keyword)
        assert found, f"stage {self.name} has no {keyword}"
        return found[-1]

    @property
    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for args in self.args_of("ENV"):
            words = shlex.split(args)
            if "=" not in words[0]:  # the legacy `ENV KEY value` form
                env[words[0]] = " ".join(words[1:])
                continue
            for word in words:
                key, _, value = word.partition("=")
                env[key] = value
        return env


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        [found] = [s for s in self.stages if s.name == name]
        return found


def logical_lines(text: str) -> Iterator[str]:
    """Instructions one per line: comment lines dropped (also inside a continued instruction,
    as Docker does) and backslash continuations joined."""
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield pending + line
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued instruction"


def substitute(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values[m[1] or m[2]], text)


def parse(text: str) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical_lines(text):
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--platform")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(substitute(words[0], global_args), name))
        elif not stages:
            assert keyword == "ARG", f"only ARG may come before the first FROM: {line}"
            key, _, default = args.partition("=")
            global_args[key] = default
        else:
            stages[-1].instructions.append((keyword, args))
    return Dockerfile(global_args, stages)


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse((ROOT / "Dockerfile").read_text())


def exec_form(args: str) -> list[str]:
    argv = json.loads(args)
    assert isinstance(argv, list), f"not exec (JSON) form: {args}"
    return [str(word) for word in argv]


def ffmpeg_build(dockerfile: Dockerfile) -> tuple[Stage, list[str]]:
    """The stage that configures ffmpeg, and its configure arguments."""
    for stage in dockerfile.stages:
        for run in stage.args_of("RUN"):
            words = shlex.split(run)
            if "./configure" in words:
                return stage, words[words.index("./configure") + 1 :]
    raise AssertionError("no stage runs ./configure")


def test_the_gpu_and_cpu_targets_exist(dockerfile: Dockerfile) -> None:
    names = [s.name for s in dockerfile.stages]
    assert set(TARGETS) <= set(names)
    assert len(names) == len(set(names))


def test_every_base_image_is_pinned(dockerfile: Dockerfile) -> None:
    earlier: set[str] = set()
    for stage in dockerfile.stages:
        if stage.base not in earlier:
            image, _, digest = stage.base.partition("@")
            tag = image.rpartition("/")[2].partition(":")[2]
            assert digest or (tag and tag != "latest"), f"unpinned base image {stage.base}"
            assert re.search(r"\d", tag or digest), f"{stage.base}: a tag without a version"
        if stage.name:
            earlier.add(stage.name)


def test_copy_and_mount_sources_are_earlier_stages(dockerfile: Dockerfile) -> None:
    earlier: set[str] = set()
    for stage in dockerfile.stages:
        for _, args in stage.instructions:
            for source in re.findall(r"(?:--from=|[,\s]from=)([\w.-]+)", args):
                assert source in earlier, f"{stage.name}: --from={source} is not a stage above"
        if stage.name:
            earlier.add(stage.name)


def test_ffmpeg_and_nv_codec_headers_are_pinned_args(dockerfile: Dockerfile) -> None:
    pins = dockerfile.global_args
    # 5.1: the series Debian bookworm ships and CI tests, so argv behaves the same.
    assert re.fullmatch(r"5\.1\.\d+", pins["FFMPEG_VERSION"])
    assert re.fullmatch(r"[0-9a-f]{64}", pins["FFMPEG_SHA256"])
    # 11.1: the NVENC API of drivers >= 470.57, the floor docs/gpu.md states.
    assert re.fullmatch(r"n11\.1\.\d+\.\d+", pins["NV_CODEC_HEADERS_VERSION"])
    stage, _ = ffmpeg_build(dockerfile)
    fetched = " ".join(stage.args_of("RUN"))
    assert "ffmpeg-${FFMPEG_VERSION}.tar.xz" in fetched
    assert "${NV_CODEC_HEADERS_VERSION}.tar.gz" in fetched
    assert "${FFMPEG_SHA256}" in fetched


def test_a_stage_declares_the_build_args_it_uses(dockerfile: Dockerfile) -> None:
    # A global ARG is not visible inside a stage until re-declared: it would expand to "".
    for stage in dockerfile.stages:
        declared = {a.partition("=")[0] for a in stage.args_of("ARG")} | set(stage.env)
        for run in stage.args_of("RUN"):
            for used in re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", run):
                assert used in declared, f"{stage.name}: ${{{used}}} is not declared there"


def test_the_gpu_ffmpeg_has_nvenc_nvdec_and_cuda_filters_and_stays_free(
    dockerfile: Dockerfile,
) -> None:
    stage, configure = ffmpeg_build(dockerfile)
    assert stage.base.startswith("nvidia/cuda:")
    assert "-devel-" in stage.base
    wanted = {"--enable-gpl", "--enable-nvenc", "--enable-nvdec", "--enable-cuvid",
              "--enable-ffnvcodec", "--enable-cuda-llvm", "--enable-libx264",
              "--enable-libx265", "--enable-libzimg", "--enable-libsvtav1"}  # fmt: skip
    assert wanted <= set(configure)
    # nonfree (or its nvcc/libnpp/fdk-aac paths) would make the binary unredistributable.
    text = "\n".join(logical_lines((ROOT / "Dockerfile").read_text()))
    for nonfree in ("--enable-nonfree", "--enable-cuda-nvcc", "--enable-libnpp", "libfdk"):
        assert nonfree not in text
    gpu = dockerfile.stage("gpu")
    assert any(f"--from={stage.name} " in c for c in gpu.args_of("COPY"))
    runtime, devel = gpu.base.split(":")[1], stage.base.split(":")[1]
    assert runtime.replace("runtime", "devel") == devel  # same CUDA version and Ubuntu


def test_every_shipped_video_codec_has_its_encoder_in_the_gpu_image(
    dockerfile: Dockerfile,
) -> None:
    """web-av1 names libsvtav1: the GPU build links it (the dev package in the build stage, the
    runtime library in the image) and the image's self-check asks the binary for it, as for
    every encoder a shipped preset names."""
    build, configure = ffmpeg_build(dockerfile)
    gpu = dockerfile.stage("gpu")
    installed = " ".join(build.args_of("RUN"))
    runtime = " ".join(gpu.args_of("RUN"))
    shipped = tomllib.loads((ROOT / "core" / "presets.toml").read_text())["presets"]
    codecs = {p.get("video_codec", "libx264") for p in shipped.values() if p.get("kind") != "mp4"}
    assert "libsvtav1" in codecs
    for codec in codecs:
        library = codec.removeprefix("lib")
        assert f"--enable-lib{library}" in configure
        assert re.search(rf"\blib{library}(enc)?-dev\b", installed), codec
        assert re.search(rf"\blib{library}(enc)?[-\w]*\d\b", runtime), codec
        assert re.search(rf'"-encoders {codec}"', runtime), f"the self-check skips {codec}"


def test_the_gpu_ffmpeg_draws_captions_and_writes_webp(dockerfile: Dockerfile) -> None:
    """The steps' text (drawtext: freetype, fontconfig's Sans from DejaVu) and WebP frames and
    previews (libwebp): built in, their libraries and a font in the image, and self-checked
    with the GIF palette and overlay filters."""
    build, configure = ffmpeg_build(dockerfile)
    installed = " ".join(build.args_of("RUN"))
    runtime = " ".join(dockerfile.stage("gpu").args_of("RUN"))
    for flag, dev, lib in (
        ("--enable-libfreetype", "libfreetype-dev", "libfreetype6"),
        ("--enable-libfontconfig", "libfontconfig-dev", "libfontconfig1"),
        ("--enable-libwebp", "libwebp-dev", "libwebp7"),
    ):
        assert flag in configure
        assert dev in installed
        assert lib in runtime
    assert "fonts-dejavu-core" in runtime
    for check in (
        "-filters drawtext",
        "-filters overlay",
        "-filters palettegen",
        "-encoders libwebp",
        "-encoders gif",
    ):
        assert f'"{check}"' in runtime, check


@pytest.mark.parametrize("target", TARGETS)
def test_the_target_runs_as_a_non_root_user(dockerfile: Dockerfile, target: str) -> None:
    stage = dockerfile.stage(target)
    uid = stage.last("USER").partition(":")[0]
    assert uid not in ("root", "0")
    temp_dir = stage.env["FFAPI_TEMP_DIR"]
    created = [r for r in stage.args_of("RUN") if temp_dir in r]
    assert created, "no RUN creates the work directory"
    assert re.search(rf"--uid {uid}\b", created[0]), "the work dir's user is not USER's"
    assert re.search(r"(-o|chown)\s+\S*ffapi", created[0])


@pytest.mark.parametrize("target", TARGETS)
def test_the_target_runs_the_worker(dockerfile: Dockerfile, target: str) -> None:
    stage = dockerfile.stage(target)
    cmd = exec_form(stage.last("CMD"))
    assert exec_form(stage.last("ENTRYPOINT")) == ["ffapi"]
    assert cmd == ["worker"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "ffapi" in scripts
    assert cmd[0] in typer.main.get_command(cli.app).commands  # type: ignore[attr-defined]
    assert cli.main([*cmd, "--help"]) == 0  # the image's argv parses as ffapi's command line
    assert stage.last("STOPSIGNAL") == "SIGTERM"


@pytest.mark.parametrize("target", TARGETS)
def test_the_settings_the_image_sets_exist(dockerfile: Dockerfile, target: str) -> None:
    env = dockerfile.stage(target).env
    fields = {f"FFAPI_{name.upper()}" for name in Settings.model_fields}
    assert {k for k in env if k.startswith("FFAPI_")} <= fields
    assert env["FFAPI_ACCEL"] == {"gpu": "auto", "cpu": "cpu"}[target]
    assert env["FFAPI_ACCEL"] in get_args(AccelMode)
    assert env["PYTHONDONTWRITEBYTECODE"] == env["PYTHONUNBUFFERED"] == "1"


def test_the_gpu_target_asks_for_the_video_driver_libraries(dockerfile: Dockerfile) -> None:
    env = dockerfile.stage("gpu").env
    # video mounts libnvidia-encode/libnvcuvid; without it NVENC/NVDEC are absent.
    assert {"compute", "video", "utility"} <= set(env["NVIDIA_DRIVER_CAPABILITIES"].split(","))


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _probe(argv: list[str], port: int) -> int:
    env = {"FFAPI_HTTP_PORT": str(port), "PATH": "/usr/bin:/bin"}
    run = [sys.executable, *argv[1:]]  # the image's venv python, here ours
    return subprocess.run(run, env=env, capture_output=True, timeout=30, check=False).returncode


@pytest.mark.parametrize("target", TARGETS)
def test_the_health_check_gets_healthz_on_the_http_port(
    dockerfile: Dockerfile, target: str
) -> None:
    stage = dockerfile.stage(target)
    options, _, command = stage.last("HEALTHCHECK").partition("CMD ")
    assert re.search(r"--start-period=\d+s", options)
    argv = exec_form(command)
    assert argv[0] == "/opt/venv/bin/python"
    assert any("venv /opt/venv" in run for run in stage.args_of("RUN"))
    assert "/healthz" in argv[-1]
    assert "FFAPI_HTTP_PORT" in argv[-1]
    assert stage.env["FFAPI_HTTP_PORT"] in stage.last("EXPOSE").split()

    for status, healthy in ((200, True), (503, False)):
        handler = type("Handler", (_Health,), {"status": status})
        with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
            code = _probe(argv, server.server_address[1])
            server.shutdown()
        assert (code == 0) is healthy, f"status {status}: exit {code}"


def test_nothing_is_fetched_into_a_shell(dockerfile: Dockerfile) -> None:
    for stage in dockerfile.stages:
        for add in stage.args_of("ADD"):
            assert not re.search(r"https?://", add), f"ADD of a URL: {add}"
        for run in stage.args_of("RUN"):
            assert not re.search(r"\b(curl|wget)\b[^|;&]*\|\s*(sudo\s+)?\w*sh\b", run), run
            if "apt-get install" in run:
                assert "rm -rf /var/lib/apt/lists/*" in run


def test_the_build_context_holds_what_the_wheel_is_made_of(dockerfile: Dockerfile) -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    kept = {line[1:].strip("/") for line in lines if line.startswith("!")}
    assert "*" in lines  # an allow-list: only the names below reach the build
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = project["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {"pyproject.toml", project["project"]["readme"]} <= kept
    assert {p.rstrip("*") for p in packages} <= kept
    for copy in dockerfile.stage("wheel").args_of("COPY"):
        *sources, _ = copy.split()
        assert set(sources) <= kept, f"COPY of a path the context leaves out: {copy}"

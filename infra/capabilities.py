"""The capability probe: which accelerator tiers this machine and this ffmpeg build can run.

Three questions, cheapest first: is an NVIDIA device visible (``nvidia-smi``); does the
ffmpeg build have the parts a tier needs (NVENC encoders, the ``cuda`` hwaccel, the CUDA
filters); and does a real one-second encode on the tier work. Only the last one counts: a
tier is used when its test encode passed, built from the same planner the jobs use, so the
test runs the argv shape a job would. A tier whose parts are missing is not tried.

The verdicts are cached per process (by the ffmpeg in force and ``PATH``) until refreshed.
The build's encoders (``ffmpeg -encoders``) are asked once per binary: a preset whose
encoder is missing is refused before its job starts, a GPU tier without it skipped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import structlog

from core.errors import FfapiError
from core.media.accel import TIERS, AccelTier, Capabilities, Device, TierCheck, TierChoice
from core.media.hardening import OUTPUT_GUARD
from core.media.plan import plan_mp4
from core.media.probe import parse_probe
from core.presets import Mp4Preset
from infra.ffmpeg import FfmpegMedia, make_sample_clip, run_argv
from infra.tools import MissingBinary, tools_in_force

log = structlog.get_logger("ffapi.accel")

_LIST_TIMEOUT = 20.0
_TEST_TIMEOUT = 60.0
_CUDA_FILTERS = ("scale_cuda", "hwupload_cuda", "hwdownload")
_CHECK_PRESET = Mp4Preset(name="accel-check", max_height=144, poster_width=64)
_cache: dict[str, Capabilities] = {}  # by ffmpeg and PATH: the ffmpeg and nvidia-smi asked
_encoders: dict[str, frozenset[str]] = {}  # by ffmpeg: the binary that was asked


def _ffmpeg_in_force() -> str:
    try:
        return tools_in_force().ffmpeg
    except MissingBinary:  # the probe itself says so
        return ""


def _asked() -> str:
    return f"{_ffmpeg_in_force()}\0{os.environ.get('PATH', '')}"


async def probe_capabilities(fresh: bool = True) -> Capabilities:
    """Probe the machine; ``fresh=False`` reuses this process's last answer."""
    key = _asked()
    if not fresh and key in _cache:
        return _cache[key]
    _cache[key] = caps = await _probe()
    return caps


async def _probe() -> Capabilities:
    devices, note = await _devices()
    caps = Capabilities(devices=devices, device_note=note, **await _build())
    with tempfile.TemporaryDirectory(prefix="ffapi-accel-") as tmp:
        try:
            clip = await make_sample_clip(Path(tmp) / "clip.mp4", seconds=1, width=320, height=240)
        except RuntimeError as exc:  # a build without libx264: nothing can be tested
            caps.checks = [TierCheck(tier=t, ok=False, reason=str(exc)) for t in TIERS]
        else:
            caps.checks = [await _check(tier, caps, clip) for tier in TIERS]
    caps.probed_at = datetime.now(UTC)
    return caps


async def _devices() -> tuple[list[Device], str | None]:
    if shutil.which("nvidia-smi") is None:
        return [], "nvidia-smi not found: no NVIDIA driver in this machine or container"
    query = "index,name,driver_version,memory.total"
    argv = ("nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits")
    try:
        code, out, err = await run_argv(argv, cwd=Path.cwd(), timeout=_LIST_TIMEOUT)
    except FfapiError as exc:
        return [], f"nvidia-smi failed: {exc.message}"
    if code != 0:
        lines = (err or out).strip().splitlines()
        return [], f"nvidia-smi failed: {lines[-1] if lines else f'exit code {code}'}"
    devices = [d for d in map(_device, out.splitlines()) if d is not None]
    return devices, None if devices else "nvidia-smi lists no device"


def _device(line: str) -> Device | None:
    fields = [f.strip() for f in line.split(",")]
    if len(fields) < 4 or not fields[0].isdigit():
        return None
    memory = int(fields[3]) if fields[3].isdigit() else None
    return Device(index=int(fields[0]), name=fields[1], driver=fields[2], memory_mib=memory)


async def _build() -> dict[str, object]:
    """What the ffmpeg build offers, from its own listings."""

    async def listing(flag: str) -> list[str]:
        argv = ("ffmpeg", "-hide_banner", flag)
        _, out, _ = await run_argv(argv, cwd=Path.cwd(), timeout=_LIST_TIMEOUT)
        return out.splitlines()

    version = (await listing("-version"))[:1]
    encoders = _names(await listing("-encoders"))
    decoders = _names(await listing("-decoders"))
    filters = _names(await listing("-filters"))
    hwaccels = [line.strip() for line in await listing("-hwaccels")][1:]
    return {
        "ffmpeg_version": version[0] if version else "",
        "nvenc_encoders": sorted(n for n in encoders if n.endswith("_nvenc")),
        "cuvid_decoders": sorted(n for n in decoders if n.endswith("_cuvid")),
        "hwaccels": [h for h in hwaccels if h],
        "cuda_filters": sorted(n for n in filters if n in _CUDA_FILTERS or n.endswith("_cuda")),
    }


async def ffmpeg_encoders() -> frozenset[str] | None:
    """Every encoder the ffmpeg in force has (``ffmpeg -encoders``), asked once per process
    and binary: a job whose preset needs another is refused before it starts. None when
    ffmpeg cannot be asked (readiness reports that); nothing is refused then."""
    key = _ffmpeg_in_force()
    if key not in _encoders:
        argv = ("ffmpeg", "-hide_banner", "-encoders")
        try:
            code, out, _ = await run_argv(argv, cwd=Path.cwd(), timeout=_LIST_TIMEOUT)
        except (FfapiError, OSError) as exc:
            log.warning("ffmpeg.encoders_unknown", reason=str(exc))
            return None
        if code != 0:
            return None
        _encoders[key] = frozenset(_names(out.splitlines()))
    return _encoders[key]


def _names(lines: list[str]) -> set[str]:
    """Second column of ``-encoders``/``-decoders``/``-filters`` lines (flags, name, text)."""
    return {parts[1] for parts in (line.split() for line in lines) if len(parts) >= 3}


def _missing(tier: AccelTier, caps: Capabilities) -> str | None:
    if not tier.on_gpu:
        return None
    if not caps.devices:
        return caps.device_note or "no NVIDIA device visible"
    if "cuda" not in caps.hwaccels:
        return "this ffmpeg build has no cuda hwaccel"
    absent = [f for f in _CUDA_FILTERS if f not in caps.cuda_filters]
    if absent:
        return f"this ffmpeg build lacks {', '.join(absent)}"
    if tier is AccelTier.GPU and "h264_nvenc" not in caps.nvenc_encoders:
        return "this ffmpeg build has no h264_nvenc"
    return None


async def _check(tier: AccelTier, caps: Capabilities, clip: Path) -> TierCheck:
    missing = _missing(tier, caps)
    if missing:
        return TierCheck(tier=tier, ok=False, reason=missing)
    out = clip.parent / tier.value
    out.mkdir()
    media = FfmpegMedia()
    started = time.monotonic()
    try:
        probe = parse_probe(await media.probe(clip))
        choice = TierChoice(tier, caps.devices[0].index if caps.devices else 0)
        plan = plan_mp4(_CHECK_PRESET, probe, PurePosixPath(clip), PurePosixPath(out), choice)
        await media.transcode(plan.argv, out, _TEST_TIMEOUT)
        # the test encode must decode back: probe what it wrote
        parse_probe(await media.probe(out / "video.mp4", OUTPUT_GUARD))
    except FfapiError as exc:
        return TierCheck(tier=tier, ok=False, reason=exc.message)
    return TierCheck(tier=tier, ok=True, seconds=round(time.monotonic() - started, 3))

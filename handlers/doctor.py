"""``ffapi doctor``: probe the accelerator tiers now and say what jobs would run on.

The same probe the worker runs at start: the NVIDIA devices ``nvidia-smi`` lists, the NVENC
encoders, NVDEC decoders, hwaccels and CUDA filters of the ffmpeg build, and a real
one-second test encode per tier; then which presets the build can run on the CPU tier (the one
every job can fall back to), so each image says what it can do. Exit status 0 when the CPU
tier works (jobs can run), 1 when not.
"""

from __future__ import annotations

import json
from typing import Any

from core.media.accel import AccelTier, Capabilities
from core.media.encoders import missing_encoder
from core.presets import PresetCatalog
from handlers.runtime import accelerator
from infra.capabilities import ffmpeg_encoders
from infra.settings import Settings
from infra.tools import use_tools


async def run_doctor(settings: Settings, as_json: bool) -> int:
    tools = use_tools(settings.tools())
    accel = accelerator(settings)
    caps = await accel.refresh()
    shown = {
        "tools": {"ffmpeg": tools.ffmpeg, "ffprobe": tools.ffprobe},
        "mode": settings.accel,
        "tiers": [t.value for t in accel.order()],
        "capabilities": caps.model_dump(mode="json"),
        "presets": preset_support(settings.presets(), await ffmpeg_encoders()),
    }
    print(json.dumps(shown, indent=2) if as_json else render(shown, caps))
    return 0 if caps.passed(AccelTier.CPU) else 1


def render(shown: dict[str, Any], caps: Capabilities) -> str:
    devices = ", ".join(
        f"{d.index}: {d.name} (driver {d.driver}, {d.memory_mib} MiB)" for d in caps.devices
    )
    cuvid = [d.removesuffix("_cuvid") for d in caps.cuvid_decoders]
    lines = [
        f"ffmpeg      {shown['tools']['ffmpeg']} ({caps.ffmpeg_version or 'version unknown'})",
        f"ffprobe     {shown['tools']['ffprobe']}",
        f"devices     {devices or 'none: ' + (caps.device_note or 'no NVIDIA device visible')}",
        f"nvenc       {', '.join(caps.nvenc_encoders) or 'none in this build'}",
        f"nvdec       {', '.join(cuvid) or 'none in this build'}",
        f"hwaccels    {', '.join(caps.hwaccels) or 'none'}",
        f"cuda        {', '.join(caps.cuda_filters) or 'no CUDA filters in this build'}",
    ]
    for check in caps.checks:
        verdict = f"ok, test encode {check.seconds:.2f} s" if check.ok else f"no: {check.reason}"
        lines.append(f"tier        {check.tier.value:<11} {verdict}")
    lines.append(f"jobs run on {' -> '.join(shown['tiers'])} (FFAPI_ACCEL={shown['mode']})")
    return "\n".join([*lines, *_preset_lines(shown["presets"])])


def _preset_lines(presets: dict[str, str]) -> list[str]:
    runs = [name for name, verdict in presets.items() if verdict == "ok"]
    lacking = [f"presets     {name}: {v}" for name, v in presets.items() if name not in runs]
    return [f"presets     {', '.join(runs) or 'none'} (the CPU tier runs them)", *lacking]


def preset_support(catalog: PresetCatalog, build: frozenset[str] | None) -> dict[str, str]:
    """Each preset: "ok" when the build has every encoder it needs on the CPU tier, else the
    one it lacks (the worker refuses such jobs before they start)."""
    if build is None:
        return dict.fromkeys(catalog.presets, "unknown: ffmpeg -encoders failed")
    verdicts: dict[str, str] = {}
    for name, preset in catalog.presets.items():
        lacking = missing_encoder(preset, AccelTier.CPU, build)
        verdicts[name] = "ok" if lacking is None else f"no {lacking} in this ffmpeg build"
    return verdicts

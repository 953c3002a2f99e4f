"""``ffapi plan --request REQUEST.json [FILE]``: a steps job's passes, without encoding.

The input is FILE when given (else the request's S3 object, downloaded); each object its
steps name is the ``--attach KEY=FILE`` given for its key (else downloaded). Prints every
pass with the tier it runs on, why it is a pass of its own, and the exact argv.
"""

from __future__ import annotations

import json
import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import typer

from core.errors import InvalidMessage
from core.jobs.results import resolve_preset
from core.media.accel import AccelTier, TierChoice
from core.media.hardening import InputGuard
from core.media.preflight import check_media
from core.media.probe import ProbeResult, parse_probe
from core.models import S3ObjectRef, step_objects
from core.presets import StepsPreset
from core.steps.compile import StepsPlan, compile_steps
from core.steps.loudness_pass import MeasurePass, plan_measure
from core.steps.overlays import image_guard
from core.steps.quality_pass import QUALITY_DIR, planned_quality
from core.steps.stage import Attached
from core.text.subtitle_files import subtitle_guard, subtitle_probe
from handlers.live_config import catalog_in_force
from handlers.plan import JOB_OUT, JOB_SOURCE, _job_request
from infra.aws import open_clients
from infra.ffmpeg import FfmpegMedia
from infra.settings import Settings
from infra.storage import S3ObjectStore
from infra.tools import use_tools

JOB_ROOT = PurePosixPath("job")


@dataclass(frozen=True, slots=True)
class StepsPlanOptions:
    request: Path
    source: Path | None = None
    attach: tuple[tuple[str, Path], ...] = ()
    as_json: bool = False
    accel: str = "cpu"


def attachment(text: str) -> tuple[str, Path]:
    """``KEY=FILE`` -> (key, file)."""
    key, sep, file = text.partition("=")
    path = Path(file)
    if not sep or not key or not path.is_file():
        raise typer.BadParameter(
            f"{text!r}: give KEY=FILE, FILE an existing file", param_hint="--attach"
        )
    return key, path


async def run_steps_plan(options: StepsPlanOptions, settings: Settings) -> int:
    use_tools(settings.tools())
    request = _job_request(options.request)
    preset = resolve_preset(await catalog_in_force(settings), request)
    if not isinstance(preset, StepsPreset):
        raise InvalidMessage(
            f"{options.request} has no steps (preset {preset.name}): "
            f"plan it with `ffapi plan {options.request}`"
        )
    limits = settings.media_limits()
    media = FfmpegMedia(probe_limits=settings.probe_limits())
    local = dict(options.attach)
    with tempfile.TemporaryDirectory(prefix="ffapi-plan-") as tmp:
        fetch = _Fetcher(settings, Path(tmp))
        source = await fetch(request.input, options.source, "source")
        probe = parse_probe(await media.probe(source, limits.guard))
        check_media(probe, limits, preset)
        attached = {}
        for n, (where, ref) in enumerate(step_objects(preset.steps, request.input.bucket)):
            path = await fetch(ref, local.get(ref.key), f"attach-{n}")
            found = await _probe_object(media, path, where, limits.guard)
            attached[where] = Attached(where, JOB_ROOT / "attach" / str(n), found)
    plan = compile_steps(
        preset,
        probe,
        JOB_SOURCE,
        JOB_OUT,
        attached,
        TierChoice(AccelTier(options.accel)),
        limits.guard,
    )
    measuring = plan_measure(preset, probe, JOB_SOURCE, attached, limits.guard)
    shown = describe_steps(preset, plan, measuring)
    print(json.dumps(shown, indent=2) if options.as_json else render_steps(shown))
    return 0


async def _probe_object(
    media: FfmpegMedia, path: Path, where: str, guard: InputGuard
) -> ProbeResult:
    """An object a step names, read as the worker reads it: a subtitle file with the
    subtitle demuxers only, an image with the image ones."""
    if where.endswith(".source"):
        return subtitle_probe(await media.probe(path, subtitle_guard(guard)))
    image = where.endswith(".image")
    doc = await media.probe(path, image_guard(guard) if image else guard)
    return parse_probe(doc, still=image)


class _Fetcher:
    """A local file where one is given, else the S3 object, downloaded."""

    def __init__(self, settings: Settings, tmp: Path) -> None:
        self._settings = settings
        self._tmp = tmp

    async def __call__(self, ref: S3ObjectRef, given: Path | None, name: str) -> Path:
        dest = self._tmp / name
        if given is not None:
            dest.symlink_to(given.resolve())
            return dest
        async with open_clients(self._settings) as clients:
            await S3ObjectStore(clients.s3).download(ref, dest)
        return dest


def describe_steps(
    preset: StepsPreset, plan: StepsPlan, measuring: MeasurePass | None = None
) -> dict[str, Any]:
    shape = plan.chain.shape
    passes = (
        []
        if measuring is None
        else [
            {
                "name": "loudness",
                "tier": "cpu",
                "why": f"steps[{measuring.index}] measures the sound first (no picture "
                "decoded); the main pass is shown with loudnorm's one-pass form, the job's "
                "gets the figures",
                "argv": list(measuring.argv),
            }
        ]
    )
    passes += [
        {
            "name": plan.main.name,
            "tier": plan.main.tier.value,
            "why": plan.main.why,
            "argv": list(plan.main.argv),
        }
    ]
    quality = planned_quality(plan, JOB_OUT, JOB_ROOT / QUALITY_DIR)
    if quality is not None:
        passes.append(
            {
                "name": "quality",
                "tier": "cpu",
                "why": "reads back what the first pass encoded",
                "argv": list(quality),
            }
        )
    return {
        "preset": preset.name,
        "picture": {
            "width": shape.width,
            "height": shape.height,
            "fps": shape.fps,
            "duration": round(shape.duration, 3),
            "audio": shape.has_audio,
        },
        "outputs": [{"step": t.index, "op": t.step.op, "folder": t.folder} for t in plan.targets],
        "cpu_frames": list(plan.cpu_steps),
        "notes": list(plan.notes),
        "captions": [f.name for f in plan.chain.files],
        "passes": passes,
    }


def render_steps(shown: dict[str, Any]) -> str:
    pic = shown["picture"]
    lines = [
        f"preset     {shown['preset']} (steps)",
        f"picture    {pic['width']}x{pic['height']} {pic['fps']:g} fps, {pic['duration']} s, "
        + ("with sound" if pic["audio"] else "no sound"),
    ]
    lines += [
        f"output     steps[{o['step']}] {o['op']:<8} -> {o['folder']}/" for o in shown["outputs"]
    ]
    lines += [f"cpu        {why}" for why in shown["cpu_frames"]]
    lines += [f"note       {note}" for note in shown["notes"]]
    lines += [
        f"caption    {name} (written into the job directory; drawn from the file)"
        for name in shown["captions"]
    ]
    for number, p in enumerate(shown["passes"], 1):
        lines.append(f"pass {number}     {p['name']} on {p['tier']}: {p['why']}")
        lines.append("  " + shlex.join(p["argv"]))
    lines.append(f"{len(shown['passes'])} pass(es); run in the job directory; nothing was encoded")
    return "\n".join(lines)

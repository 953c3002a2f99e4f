"""``ffapi plan JOB.json|FILE``: what a job would do, without encoding anything.

Probes the input (a local media file, or the S3 object a job request names, downloaded into
a private directory), fits the preset's ladder to it and prints each rung's fate with the
reason, the renditions and the exact argv the worker would run (``--accel TIER``: on that
accelerator tier; the CPU's by default).
"""

from __future__ import annotations

import json
import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError

from core.errors import InvalidMessage
from core.jobs.results import resolve_preset
from core.media.accel import CPU_ONLY, AccelTier, TierChoice
from core.media.hardening import SOURCE_GUARD, InputGuard
from core.media.plan import plan_mp4
from core.media.preflight import check_media
from core.media.probe import ProbeResult, parse_probe
from core.models import JobRequest, S3ObjectRef
from core.presets import Mp4Preset, OutputPreset, StepsPreset, StreamingPreset
from core.steps.loudness import normalize, track_instance
from core.streaming.audio_tracks import kept_tracks
from core.streaming.renditions import StreamingPlan, plan_streaming
from core.streaming.storyboard import sheets_argvs, tile_count
from handlers.live_config import catalog_in_force
from handlers.preset_option import require_preset
from infra.aws import open_clients
from infra.ffmpeg import FfmpegMedia
from infra.settings import Settings
from infra.storage import S3ObjectStore
from infra.tools import use_tools

# The argv names the job directory's own paths; a worker's is a fresh temporary directory.
JOB_SOURCE = PurePosixPath("job/input/source")
JOB_OUT = PurePosixPath("job/out")


@dataclass(frozen=True, slots=True)
class PlanOptions:
    target: Path
    preset: str | None = None
    as_json: bool = False
    accel: str = "cpu"


async def run_plan(options: PlanOptions, settings: Settings) -> int:
    use_tools(settings.tools())
    require_preset(settings, options.preset)
    in_s3 = options.target.suffix == ".json"
    request = _job_request(options.target) if in_s3 else _local_request(settings.preset)
    if options.preset:
        request = request.model_copy(update={"preset": options.preset})
    preset = resolve_preset(await catalog_in_force(settings), request)
    if isinstance(preset, StepsPreset):
        raise InvalidMessage(
            f"{options.target} lists steps (preset {preset.name}): plan it with "
            f"`ffapi plan --request {options.target}`"
        )
    with tempfile.TemporaryDirectory(prefix="ffapi-plan-") as tmp:
        source = Path(tmp) / "source"
        if in_s3:
            async with open_clients(settings) as clients:
                await S3ObjectStore(clients.s3).download(request.input, source)
        else:
            source.symlink_to(options.target.resolve())  # probed where ffmpeg would see it
        limits = settings.media_limits()
        media = FfmpegMedia(probe_limits=settings.probe_limits())
        probe = parse_probe(await media.probe(source, limits.guard))
    check_media(probe, limits, preset)  # what the worker would refuse, refused here too
    shown = describe(preset, probe, TierChoice(AccelTier(options.accel)), limits.guard)
    print(json.dumps(shown, indent=2) if options.as_json else render(shown))
    return 0


def describe(
    preset: OutputPreset,
    probe: ProbeResult,
    choice: TierChoice = CPU_ONLY,
    guard: InputGuard = SOURCE_GUARD,
) -> dict[str, Any]:
    """The plan as data: source, preset, ladder decisions, renditions and argv, for a tier."""
    video = probe.video
    source: dict[str, Any] = {"format": probe.format_name, "duration": probe.duration}
    if video:
        width, height = video.display_size
        source.update(
            size=f"{video.width}x{video.height}",
            display=f"{width:g}x{height:g}",
            rotation=video.rotation,
            fps=round(video.fps, 3),
            pix_fmt=video.pix_fmt,
            transfer=video.color_transfer,
        )
    source["audio"] = f"{probe.audio.codec} {probe.audio.channels}ch" if probe.audio else None
    source["audio_tracks"] = [
        {
            "track": t.track,
            "codec": t.codec,
            "channels": t.channels,
            "layout": t.channel_layout,
            "language": t.language,
            "title": t.title,
            "role": t.role,
            "default": t.default,
        }
        for t in probe.audio_tracks
    ]
    if isinstance(preset, Mp4Preset):
        mp4 = plan_mp4(preset, probe, JOB_SOURCE, JOB_OUT, choice, guard)
        outputs = [{"name": o.name, "role": o.role} for o in mp4.outputs]
        return {
            "preset": preset.name,
            "kind": "mp4",
            "source": source,
            "ladder": [],
            "renditions": [
                {"name": "video.mp4", "size": f"{mp4.width}x{mp4.height}", "fps": mp4.fps}
            ],
            "outputs": outputs,
            "notes": [],
            "tier": mp4.tier.value,
            "encoder": mp4.encoder,
            "argv": list(mp4.argv),
        }
    assert isinstance(preset, StreamingPreset), "run_plan sends steps to plan_steps"
    # a loudness target: shown in loudnorm's one-pass form (the job measures the source
    # first and gives it the figures)
    loud = preset.loudness.step() if preset.loudness and probe.audio else None
    normalizers = {}
    if loud is not None:
        kept = kept_tracks(preset, probe)
        normalizers = {t.track: tuple(normalize(loud, None, track_instance(t.track))) for t in kept}
    plan = plan_streaming(preset, probe, JOB_SOURCE, JOB_OUT, choice, guard, normalizers)
    notes = [*plan.notes, *(["the sound is measured first, then normalized"] if loud else [])]
    decisions = plan.ladder.decisions if plan.ladder else ()
    renditions = [
        {
            "name": v.name,
            "size": f"{v.width}x{v.height}",
            "fps": round(plan.fps, 3),
            "video_kbps": v.video_kbps,
            "maxrate_kbps": v.maxrate_kbps,
        }
        for v in plan.video
    ] + [
        {
            "name": a.name,
            "audio_kbps": a.bitrate_kbps,
            "channels": a.channels,
            "track": a.track,
            "language": a.language,
            "role": a.role,
            "default": a.default,
        }
        for a in plan.audio
    ]
    return {
        "preset": preset.name,
        "kind": plan.kind,
        "source": source,
        "ladder": [{"rung": d.name, "kept": d.kept, "reason": d.reason} for d in decisions],
        "renditions": renditions,
        "segment_seconds": plan.segment_seconds,
        "outputs": [p for p in (plan.master, plan.mpd) if p],
        "notes": notes,
        "tier": plan.tier.value,
        "encoder": plan.encoder,
        "argv": list(plan.argv),
        "then": [list(argv) for argv in _sheets(plan, probe)],
    }


def _sheets(plan: StreamingPlan, probe: ProbeResult) -> tuple[tuple[str, ...], ...]:
    """The storyboard's sheets runs for the tiles the picture's stated length makes (the
    worker counts the tiles the pass wrote)."""
    if plan.storyboard is None or probe.video is None:
        return ()
    frames = round(probe.video.duration * plan.fps)
    return sheets_argvs(plan.storyboard, JOB_OUT, tile_count(plan.storyboard, frames))


def render(shown: dict[str, Any]) -> str:
    src = shown["source"]
    facts = ", ".join(f"{k} {v}" for k, v in src.items() if v is not None and k != "audio_tracks")
    lines = [f"source     {facts}"]
    lines += [
        f"track      {t['track']}: "
        + ", ".join(f"{k} {v}" for k, v in t.items() if v is not None and k != "track")
        for t in src.get("audio_tracks", [])
    ]
    lines += [
        f"preset     {shown['preset']} ({shown['kind']})",
        f"tier       {shown['tier']} (video encoder {shown['encoder']})",
    ]
    for step in shown["ladder"]:
        verdict = "kept   " if step["kept"] else "dropped"
        lines.append(f"ladder     {step['rung']:<8} {verdict} {step['reason']}")
    for r in shown["renditions"]:
        detail = ", ".join(f"{k} {v}" for k, v in r.items() if k != "name")
        lines.append(f"rendition  {r['name']:<9} {detail}")
    lines += [f"note       {note}" for note in shown["notes"]]
    lines.append(f"outputs    {', '.join(map(str, shown['outputs']))}")
    lines.append("argv (run in the job directory; nothing was encoded)")
    lines.append("  " + shlex.join(shown["argv"]))
    for argv in shown.get("then", []):
        lines.append("then (the storyboard's tiles into sheets)")
        lines.append("  " + shlex.join(argv))
    return "\n".join(lines)


def _job_request(target: Path) -> JobRequest:
    try:
        return JobRequest.model_validate_json(target.read_bytes())
    except ValidationError as exc:
        problem = exc.errors(include_input=False)[0]
        where = ".".join(map(str, problem["loc"]))
        raise InvalidMessage(f"{target} is not a job request: {where}: {problem['msg']}") from exc


def _local_request(preset: str | None) -> JobRequest:
    """A stand-in request for a local file: only its preset matters to the plan."""
    return JobRequest(input=S3ObjectRef(bucket="local", key="file"), preset=preset)

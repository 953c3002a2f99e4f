"""What a steps job made, one line per output step (``ffapi demo --request``)."""

from __future__ import annotations

from typing import Any


def print_steps(data: dict[str, Any]) -> None:
    for step in data.get("steps") or []:
        files = [o for o in data.get("outputs") or [] if o.get("step") == step["name"]]
        total = sum(int(f.get("size") or 0) for f in files)
        label = f"{step['name']} ({step['op']}"
        label += f" {step['preset']})" if step.get("preset") else ")"
        print(f"step       {label:<24} {len(files)} files, {total} bytes{_summary(step)}")
        for kind, key in (step.get("playback") or {}).items():
            print(f"playback   {kind}: {key}")


def _summary(step: dict[str, Any]) -> str:
    if step.get("loudness"):
        return "; " + _loudness(step["loudness"])
    if step.get("scenes"):
        scenes = step["scenes"]["scenes"]
        cuts = ", ".join(f"{s['start']:.2f}" for s in scenes[1:])
        count = step["scenes"]["count"]
        return f"; {count} scenes" + (f", cuts at {cuts} s" if cuts and count <= 10 else "")
    if step.get("quality"):
        shown = [
            f"{r['name']} SSIM {r['ssim_mean']:.4f} PSNR {r['psnr_mean']:.1f} dB"
            for r in step["quality"]["renditions"]
        ]
        return "; " + "; ".join(shown)
    if step.get("qc"):
        return "; qc " + ("passed" if step["qc"]["passed"] else "FAILED")
    return ""


def _loudness(report: dict[str, Any]) -> str:
    """``linear: -21.8 LUFS -20.8 dBTP -> -16.0 LUFS -15.0 dBTP``."""

    def figures(side: dict[str, Any] | None) -> str:
        if not side or side.get("integrated_lufs") is None:
            return "silent"
        return f"{side['integrated_lufs']:.1f} LUFS {side['true_peak_db']:.1f} dBTP"

    def one(side: dict[str, Any]) -> str:
        shown = f"{side['mode']}: {figures(side['input'])}"
        return shown + (f" -> {figures(side['output'])}" if side.get("output") else "")

    tracks = report.get("tracks") or []
    if not tracks:
        return one(report)
    # several tracks, each normalized alone: ``eng linear: ...; spa linear: ...``
    return "; ".join(f"{t.get('language') or 'track ' + str(t['track'])} {one(t)}" for t in tracks)

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

"""The README's first command, run as a newcomer runs it: a subprocess from the repo root."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

from infra.ffmpeg import make_sample_clip

ROOT = Path(__file__).parents[2]
pytestmark = pytest.mark.e2e


def readme_commands() -> list[str]:
    """The shell commands in the README's first code block."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```(?:sh|bash|console)?\n(.*?)```", readme, re.DOTALL)
    assert block, "README.md has no code block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def run(argv: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FFAPI_"))}
    return subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_the_readme_names_the_two_commands() -> None:
    assert readme_commands()[:2] == ["./dev demo", "./dev test"]
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith("exec ./dev test")


def test_the_first_command_runs_the_demo_and_prints_the_summary() -> None:
    result = run(readme_commands()[0].split())
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"^emulator\s+moto server at http://127\.0\.0\.1:\d+", out, re.M)
    assert re.search(r"^job\s+j-[0-9a-f]{24}\s+COMPLETED", out, re.M)
    assert re.search(r"^encoder\s+libx264 \(tier cpu\)", out, re.M)
    assert re.search(r"^timings\s+download [\d.]+s\s+probe [\d.]+s\s+encode [\d.]+s", out, re.M)
    assert re.findall(r"^ladder\s+(\w+)\s+(kept|dropped)", out, re.M) == [
        ("1080p", "dropped"),
        ("720p", "kept"),
        ("480p", "kept"),
        ("360p", "kept"),
    ]
    assert re.search(r"^qc\s+passed: references, durations", out, re.M)
    names = (
        "cmaf/master.m3u8",
        "cmaf/manifest.mpd",
        "thumbnails/poster.jpg",
        "probe.json",
        "job.json",
    )
    for name in names:
        assert re.search(rf"s3://ffapi-output/outputs/j-[0-9a-f]+/{name}\s+[\d.]+ [KM]?B", out)
    # The last line is the event exactly as the subscribed queue received it.
    event = json.loads(out.strip().splitlines()[-1])
    assert event["type"] == "ffapi.job.completed"
    assert event["specversion"] == "1.0"


def test_demo_on_your_own_file_with_a_preset_copies_the_outputs(tmp_path: Path) -> None:
    clip = tmp_path / "mine.mov"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
         "testsrc2=size=640x360:rate=25:duration=3", "-c:v", "libx264", str(clip)],
        check=True,
    )  # fmt: skip
    out_dir = tmp_path / "out"
    ffapi = str(Path(sys.executable).parent / "ffapi")
    result = run(
        [ffapi, "demo", "--input", str(clip), "--preset", "mp4-480p", "--out", str(out_dir)]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "job.json",
        "poster.jpg",
        "probe.json",
        "video.mp4",
    ]
    job = json.loads((out_dir / "job.json").read_text())
    assert job["preset"] == "mp4-480p"
    assert job["source"]["audio_codec"] is None  # a silent input makes a silent MP4
    decoded = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(out_dir / "video.mp4"), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert decoded.returncode == 0
    assert decoded.stderr == ""


def test_plan_prints_the_fitted_ladder_and_argv_without_encoding(tmp_path: Path) -> None:
    clip = tmp_path / "phone.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
         "testsrc2=size=1280x720:rate=60:duration=1", "-c:v", "libx264", "-preset",
         "ultrafast", str(clip)],
        check=True,
    )  # fmt: skip
    ffapi = str(Path(sys.executable).parent / "ffapi")
    before = sorted(tmp_path.iterdir())
    result = run([ffapi, "plan", str(clip), "--json"])
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert [(s["rung"], s["kept"]) for s in plan["ladder"]] == [
        ("1080p", False),
        ("720p", True),
        ("480p", True),
        ("360p", True),
    ]
    assert "taller than the source" in plan["ladder"][0]["reason"]
    assert [r["size"] for r in plan["renditions"]] == ["1280x720", "864x486", "640x360"]
    assert plan["argv"][0] == "ffmpeg"
    assert "-filter_complex" in plan["argv"]
    # then the storyboard's one tile (1 s: a tile every 5 s) on a sheet of its own size
    assert [a for argv in plan["then"] for a in argv if a.startswith("tile=")] == ["tile=1x1"]
    assert sorted(tmp_path.iterdir()) == before  # nothing was encoded or written
    text = run([ffapi, "plan", str(clip), "--preset", "hls-ts"])
    assert text.returncode == 0, text.stderr
    assert re.search(r"^preset\s+hls-ts", text.stdout, re.M)
    assert "fps 30" in text.stdout  # 60 fps capped by a whole divisor under hls-ts
    refused = run([ffapi, "plan", str(clip), "--preset", "no-such"])
    assert refused.returncode == 2
    assert "--preset 'no-such' is not a preset" in refused.stderr


def test_demo_exits_non_zero_with_the_error_code_when_the_job_fails(tmp_path: Path) -> None:
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video\n" * 50)
    ffapi = str(Path(sys.executable).parent / "ffapi")
    result = run([ffapi, "demo", "--input", str(notes), "--verbose"])
    assert result.returncode == 1
    assert "job failed: invalid_media" in result.stdout
    # --verbose shows the worker's logs: JSON lines, the job's ids bound to each of its lines.
    logs = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    [failed] = [entry for entry in logs if entry["event"] == "job.failed"]
    assert failed["level"] == "warning"
    assert failed["code"] == "invalid_media"
    assert failed["job_id"].startswith("j-")
    assert failed["message_id"]
    event = json.loads(result.stdout.split("subscribed to the SNS topic:\n")[1].splitlines()[0])
    assert event["type"] == "ffapi.job.failed"
    assert event["data"]["error"]["retryable"] is False


def test_doctor_reports_each_tier_and_what_jobs_run_on() -> None:
    ffapi = str(Path(sys.executable).parent / "ffapi")
    result = run([ffapi, "doctor", "--json"], timeout=120)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    checks = {c["tier"]: c for c in shown["capabilities"]["checks"]}
    assert set(checks) == {"gpu", "gpu-decode", "cpu"}
    assert checks["cpu"]["ok"] is True
    assert checks["cpu"]["seconds"] > 0  # a real test encode ran
    assert "h264_nvenc" in shown["capabilities"]["nvenc_encoders"]  # Debian builds it in
    if not shown["capabilities"]["devices"]:  # this CI: no GPU, so only the CPU is used
        assert shown["tiers"] == ["cpu"]
        assert checks["gpu"]["ok"] is False
        assert "nvidia-smi" in checks["gpu"]["reason"]
    text = run([ffapi, "doctor"], timeout=120)
    assert re.search(r"^tier\s+cpu\s+ok, test encode", text.stdout, re.M)
    assert re.search(r"^jobs run on ", text.stdout, re.M)


def test_plan_shows_the_argv_of_a_gpu_tier(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
         "testsrc2=size=640x360:rate=30:duration=1", "-c:v", "libx264", "-preset",
         "ultrafast", "-pix_fmt", "yuv420p", str(clip)],
        check=True,
    )  # fmt: skip
    ffapi = str(Path(sys.executable).parent / "ffapi")
    result = run([ffapi, "plan", str(clip), "--accel", "gpu", "--json"])
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert (plan["tier"], plan["encoder"]) == ("gpu", "h264_nvenc")
    assert plan["argv"][plan["argv"].index("-hwaccel") + 1] == "cuda"


def test_the_worker_serves_healthz_with_its_accelerator_state() -> None:
    """`ffapi local` (emulator + worker) with FFAPI_HTTP_PORT: what the container's
    HEALTHCHECK asks."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FFAPI_"))}
    env["FFAPI_HTTP_PORT"] = str(port)
    env["FFAPI_WAIT_TIME_SECONDS"] = "1"  # a short long poll: SIGINT is answered sooner
    ffapi = str(Path(sys.executable).parent / "ffapi")
    proc = subprocess.Popen(
        [ffapi, "local"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline, body = time.monotonic() + 120, None
        while body is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    body = json.loads(r.read())
            except OSError:
                time.sleep(0.5)
        assert body is not None, "no /healthz answer"
        assert body["status"] == "ok"
        assert body["accel"]["tiers"][-1] == "cpu"  # the floor, whatever the machine has
        assert {c["tier"] for c in body["accel"]["checks"]} == {"gpu", "gpu-decode", "cpu"}
        assert body["accel"]["breaker"]["state"] == "closed"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            assert b"ffapi_accel_breaker_open" in r.read()
    finally:
        proc.send_signal(2)  # SIGINT: the worker stops polling and exits
        proc.communicate(timeout=60)
    assert proc.returncode == 0


def test_ffapi_local_says_where_to_drop_files_and_prints_each_jobs_outcome(
    tmp_path: Path,
) -> None:
    """What the README promises of `ffapi local`: the endpoint, the bucket and the watched
    prefix, so any S3 client can drop files; then one line per job as it ends."""
    clip = asyncio.run(make_sample_clip(tmp_path / "clip.mp4", seconds=2, width=320, height=180))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FFAPI_"))}
    env |= {"FFAPI_WAIT_TIME_SECONDS": "1", "FFAPI_PRESET": "mp4-480p"}
    ffapi = str(Path(sys.executable).parent / "ffapi")
    proc = subprocess.Popen(
        [ffapi, "local"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()

    def next_line(timeout: float = 120) -> str:
        return lines.get(timeout=timeout)

    try:
        url = re.search(r"emulator\s+(\S+)", next_line()).group(1)  # type: ignore[union-attr]
        found = re.search(r"bucket\s+s3://(\S+)\s+watched prefix (\S+)", next_line())
        assert found is not None
        bucket, prefix = found.groups()
        s3 = boto3.client(
            "s3",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.upload_file(str(clip), bucket, f"{prefix}clip.mp4")
        s3.put_object(Bucket=bucket, Key=f"{prefix}notes.mp4", Body=b"not a video\n" * 50)
        outcomes: list[str] = []
        while len(outcomes) < 2:
            line = next_line()
            if re.match(r"\d\d:\d\d:\d\d  j-", line):
                outcomes.append(line)
    finally:
        proc.send_signal(2)
        proc.wait(timeout=60)
    assert proc.returncode == 0
    done = sorted(line.split()[2] for line in outcomes)
    assert done == ["COMPLETED", "FAILED"]
    failed = next(line for line in outcomes if " FAILED " in line)
    assert failed.rstrip().endswith("invalid_media")
    assert all(" mp4-480p " in line for line in outcomes)

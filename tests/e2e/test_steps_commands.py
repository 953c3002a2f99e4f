"""The steps commands as the README shows them: `ffapi demo --request ... --attach ...` and
`ffapi plan --request ...`, run as subprocesses from the repo root."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_readme_commands import ROOT, run

pytestmark = pytest.mark.e2e
FFAPI = str(Path(sys.executable).parent / "ffapi")
EXAMPLE = "events/job-request-steps.json"  # the example request, as written


@pytest.fixture(scope="module")
def logo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("logo") / "logo.png"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "color=c=0x00ff00:s=200x100", "-frames:v", "1", str(path)],
                   check=True)  # fmt: skip
    return path


def test_demo_runs_the_example_request_and_copies_every_step(logo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run([FFAPI, "demo", "--request", EXAMPLE, "--attach", f"brand/logo.png={logo}",
                  "--out", str(out)])  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "attached   s3://ffapi-input/brand/logo.png" in result.stdout
    for line in (
        "step       encode (encode mp4-480p)",
        "step       frames (frames)",
        "step       preview (preview)",
        "step       scenes (scenes)",
    ):
        assert line in result.stdout
    job = json.loads((out / "job.json").read_text())
    assert job["preset"] == "steps"
    assert [s["name"] for s in job["steps"]] == ["encode", "frames", "preview", "scenes"]
    for output in job["outputs"]:
        name = output["key"].split("/", 2)[2]  # outputs/<job>/<name>
        assert (out / name).is_file(), name
    assert (out / "encode" / "video.mp4").is_file()
    assert len(list((out / "frames").glob("frame-*.jpg"))) == 5  # 9 s, one every 2 s


def test_demo_refuses_a_bad_request_before_it_starts(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "version": 2,
                "input": {"bucket": "b-b", "key": "k"},
                "steps": [{"op": "speed", "factor": 9}],
            }
        )
    )
    result = run([FFAPI, "demo", "--request", str(bad)])
    assert result.returncode != 0
    assert "steps[0] (speed).factor" in result.stdout + result.stderr
    assert "emulator" not in result.stdout


def test_plan_prints_one_pass_for_the_example(logo: Path, tmp_path: Path) -> None:
    clip = tmp_path / "talk.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=1280x720:rate=30:duration=12", "-c:v", "libx264",
                    "-preset", "ultrafast", str(clip)], check=True)  # fmt: skip
    result = run([FFAPI, "plan", "--request", EXAMPLE, str(clip), "--attach",
                  f"brand/logo.png={logo}", "--json"])  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    shown = json.loads(result.stdout)
    assert [p["name"] for p in shown["passes"]] == ["main"]
    assert shown["picture"] == {
        "width": 1280,
        "height": 720,
        "fps": 30.0,
        "duration": 10.0,
        "audio": False,
    }
    assert [o["folder"] for o in shown["outputs"]] == ["encode", "frames", "preview", "scenes"]
    assert not (ROOT / "job").exists()  # nothing was written, nothing encoded

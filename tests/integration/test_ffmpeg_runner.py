"""The process runner under ffmpeg: deadlines, clean environment, classified failures."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from core.errors import InvalidMedia, ResourceExhausted, TranscodeTimeout, UnsupportedMedia
from infra.ffmpeg import STDERR_LIMIT, FfmpegMedia, run_argv

pytestmark = pytest.mark.integration


def test_a_run_past_its_deadline_fails_as_a_retryable_timeout(tmp_path: Path) -> None:
    endless = ["ffmpeg", "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc",
               "-f", "null", "-"]  # fmt: skip
    with pytest.raises(TranscodeTimeout) as info:
        asyncio.run(run_argv(endless, cwd=tmp_path, timeout=1.0))
    assert info.value.retryable is True
    assert info.value.code == "transcode_timeout"


def test_children_get_no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    monkeypatch.setenv("FFAPI_SOMETHING", "x")
    code, stdout, _ = asyncio.run(run_argv(["env"], cwd=tmp_path, timeout=10))
    assert code == 0
    names = {line.split("=", 1)[0] for line in stdout.splitlines()}
    assert names <= {"PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "CUDA_DEVICE_ORDER"}
    assert "CUDA_DEVICE_ORDER=PCI_BUS_ID" in stdout.splitlines()  # nvidia-smi's numbering
    assert "do-not-leak" not in stdout
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == "do-not-leak"  # ours is untouched


def test_probe_tells_garbage_from_refused_containers(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.write_bytes(os.urandom(4096))
    with pytest.raises(InvalidMedia) as bad:
        asyncio.run(FfmpegMedia().probe(garbage))
    assert bad.value.stderr_tail

    concat = tmp_path / "list"
    concat.write_text("ffconcat version 1.0\nfile /etc/hostname\n")
    with pytest.raises(UnsupportedMedia):
        asyncio.run(FfmpegMedia().probe(concat))


def test_a_process_killed_by_a_signal_is_a_resource_failure(tmp_path: Path) -> None:
    # What the OOM killer does to ffmpeg: not the input's fault, so retryable.
    with pytest.raises(ResourceExhausted) as info:
        asyncio.run(run_argv(["sh", "-c", "kill -9 $$"], cwd=tmp_path, timeout=10))
    assert info.value.retryable is True


def test_stderr_is_kept_to_its_tail_however_much_is_written(tmp_path: Path) -> None:
    chatty = ["sh", "-c", "yes 'corrupt frame' | head -c 5000000 >&2; echo last line >&2"]
    code, _, stderr = asyncio.run(run_argv(chatty, cwd=tmp_path, timeout=30))
    assert code == 0
    assert len(stderr) <= STDERR_LIMIT
    assert stderr.endswith("last line\n")

"""The SAM template: valid CloudFormation, and wired to settings and a handler that exist."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from infra.settings import Settings

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    doc, problems = decode(str(ROOT / "template.yaml"))
    assert not problems, problems
    return dict(doc)


def test_cfn_lint_finds_nothing() -> None:
    lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [str(lint), str(ROOT / "template.yaml")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_function_runs_our_handler_on_the_queue(template: dict[str, Any]) -> None:
    fn = template["Resources"]["WorkerFunction"]["Properties"]
    module, _, name = fn["Handler"].rpartition(".")
    assert callable(getattr(importlib.import_module(module), name))
    [event] = fn["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = template["Resources"]["JobsQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= fn["Timeout"]  # Lambda refuses the mapping otherwise


def test_every_variable_is_a_setting(template: dict[str, Any]) -> None:
    env = template["Resources"]["WorkerFunction"]["Properties"]["Environment"]["Variables"]
    fields = {f"FFAPI_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields
    assert {"FFAPI_INPUT_BUCKET", "FFAPI_OUTPUT_BUCKET", "FFAPI_EVENTS_TOPIC"} <= set(env)
    assert (
        int(env["FFAPI_TRANSCODE_TIMEOUT"])
        < template["Resources"]["WorkerFunction"]["Properties"]["Timeout"]
    )

"""The whole system's templates: template.yaml and its nested stacks (templates/), as SAM
transforms them and as cfn-lint reads them; every setting reachable; the run modes,
retention and encryption as the root template states them (the fleets: test_fleets.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from core.media.hardening import DEFAULT_CODECS
from infra.settings import Settings
from tests.deploy.templates import ROOT, load

TEMPLATES = [ROOT / "template.yaml", *sorted((ROOT / "templates").glob("*.yaml"))]
SAM = "AWS::Serverless-2016-10-31"

# Settings no deployment sets through the template, each with why.
NOT_IN_THE_TEMPLATE = {
    "FFAPI_PRESETS_FILE": "a file in the image: bake it into an image built FROM ours",
    "FFAPI_FFMPEG": "the images put their ffmpeg on PATH; the function's layer on /opt/bin",
    "FFAPI_FFPROBE": "as FFAPI_FFMPEG",
    "FFAPI_WEBHOOK_ALLOW_LOOPBACK": "development only (http:// and loopback webhooks)",
    # `ffapi prune`'s, for stores without lifecycle rules; the stack's buckets have them
    # (OutputRetentionDays, ProcessedUploadDays)
    "FFAPI_OUTPUT_RETENTION_DAYS": "the output bucket's lifecycle rule",
    "FFAPI_INPUT_RETENTION_DAYS": "the input bucket's lifecycle rules",
    "FFAPI_PRIORITY_QUEUES": "the template makes the high and low queues: always on",
    "FFAPI_PRIORITY_WEIGHTS": "the worker's default (4:2:1); set it on the task to change it",
    "FFAPI_PRIORITY_POLL_SECONDS": "the worker's default (1 s)",
    "FFAPI_SCHEDULE_LEAD_SECONDS": "the worker's default (5 s)",
}


def packaged(template: dict[str, Any]) -> dict[str, Any]:
    """What `sam package` hands CloudFormation: local code and nested templates uploaded."""
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            assert (ROOT / props["CodeUri"]).is_dir()
            props["CodeUri"] = "s3://ffapi-artifacts/worker.zip"
        if resource["Type"] == "AWS::Serverless::Application":
            assert (ROOT / props["Location"]).is_file(), props["Location"]
            props["Location"] = f"https://ffapi-artifacts.s3.amazonaws.com/{props['Location']}"
    return template


def _no_managed_policies() -> dict[str, str]:
    raise AssertionError("SAM looked up a managed policy: every role is the template's own")


def transformed(path: Path) -> dict[str, Any]:
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name="us-east-1"))
    result = translator.translate(
        packaged(load(path)), parameter_values={}, get_managed_policy_map=_no_managed_policies
    )
    return dict(result)


def cfn_lint(*paths: Path) -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).parent / "cfn-lint"
    return subprocess.run(
        [str(lint), "--", *map(str, paths)], capture_output=True, text=True, check=False
    )


def test_cfn_lint_finds_nothing_in_any_template() -> None:
    result = cfn_lint(*TEMPLATES)
    assert result.returncode == 0, result.stdout + result.stderr


# The nested templates hold no SAM resource: CloudFormation reads them as they are.
SAM_TEMPLATES = [p for p in TEMPLATES if SAM in json.dumps(load(p).get("Transform", []))]


def test_only_the_root_template_needs_the_sam_transform() -> None:
    assert SAM_TEMPLATES == [ROOT / "template.yaml"]
    for path in TEMPLATES[1:]:
        assert not any(
            r["Type"].startswith("AWS::Serverless::") for r in load(path)["Resources"].values()
        )


@pytest.mark.parametrize("path", SAM_TEMPLATES, ids=lambda p: p.name)
def test_sam_transforms_each_template_and_cfn_lint_passes_the_output(
    path: Path, tmp_path: Path
) -> None:
    output = transformed(path)
    assert not any(r["Type"].startswith("AWS::Serverless::") for r in output["Resources"].values())
    out = tmp_path / f"{path.stem}.json"
    out.write_text(json.dumps(output))
    result = cfn_lint(out)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_nested_stack_is_given_exactly_its_parameters(root: dict[str, Any]) -> None:
    apps = {
        n: r for n, r in root["Resources"].items() if r["Type"] == "AWS::Serverless::Application"
    }
    assert set(apps) == {"GpuFleet", "CpuFleet", "Observability"}
    for name, app in apps.items():
        nested = load(ROOT / app["Properties"]["Location"])["Parameters"]
        given = set(app["Properties"]["Parameters"])
        required = {p for p, spec in nested.items() if "Default" not in spec}
        assert required <= given <= set(nested), name


def _environment(root: dict[str, Any], fleet: dict[str, Any]) -> set[str]:
    function = root["Resources"]["WorkerFunction"]["Properties"]["Environment"]["Variables"]
    [worker] = [
        c
        for c in fleet["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
        if c["Name"] == "worker"
    ]
    names = [e["Name"] for e in worker["Environment"]] + [e["Name"] for e in worker["Secrets"]]
    assert len(names) == len(set(names))
    return set(function) | set(names)


def test_every_setting_is_settable_from_the_template(
    root: dict[str, Any], fleet: dict[str, Any]
) -> None:
    settings = {f"FFAPI_{name.upper()}" for name in Settings.model_fields}
    found = _environment(root, fleet)
    assert found <= settings  # no variable the worker would ignore
    assert set(NOT_IN_THE_TEMPLATE) <= settings  # no stale exclusion
    assert not found & set(NOT_IN_THE_TEMPLATE)
    assert settings - found == set(NOT_IN_THE_TEMPLATE)


def test_the_fleets_literal_settings_are_valid_settings(
    fleet: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every literal value the task definition sets is one the worker accepts."""
    [worker] = [
        c
        for c in fleet["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
        if c["Name"] == "worker"
    ]
    for env in worker["Environment"]:
        if isinstance(env["Value"], str):
            monkeypatch.setenv(env["Name"], env["Value"])
    settings = Settings()
    assert settings.http_port == 8080  # the health check's port
    stop = worker["StopTimeout"]
    assert settings.drain_seconds < stop  # jobs are handed back before ECS kills the task


def test_the_codecs_parameter_becomes_the_json_list_the_worker_reads(
    root: dict[str, Any], fleet: dict[str, Any]
) -> None:
    default = root["Parameters"]["AllowedCodecs"]["Default"].split(",")
    assert default == list(DEFAULT_CODECS)  # the template's default is the worker's
    function = root["Resources"]["WorkerFunction"]["Properties"]["Environment"]["Variables"]
    [worker, _] = fleet["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    [env] = [e["Value"] for e in worker["Environment"] if e["Name"] == "FFAPI_ALLOWED_CODECS"]
    for value in (function["FFAPI_ALLOWED_CODECS"], env):
        text, names = value["Fn::Sub"]
        joined = names["Codecs"]["Fn::Join"]
        rendered = text.replace("${Codecs}", joined[0].join(default))
        assert Settings(allowed_codecs=json.loads(rendered)).allowed_codecs == default


def _conditions(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, bool]:
    """The template's Conditions for these parameter values (the functions it uses)."""
    defs = template["Conditions"]
    done: dict[str, bool] = {}

    def value(node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Ref"}:
            name = node["Ref"]
            spec = template["Parameters"][name]
            return parameters.get(name, spec.get("Default"))
        return node

    def holds(node: Any) -> bool:
        [(fn, args)] = node.items()
        if fn == "Fn::Equals":
            return bool(value(args[0]) == value(args[1]))
        if fn == "Fn::Not":
            return not holds(args[0])
        if fn == "Fn::And":
            return all(holds(a) for a in args)
        assert fn == "Condition", fn
        return done.get(args) if args in done else done.setdefault(args, holds(defs[args]))  # type: ignore[return-value]

    return {name: holds(node) for name, node in defs.items()}


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("lambda", {"WorkerFunction", "WorkerRole", "WorkerLogGroup", "Observability"}),
        ("cpu", {"CpuFleet", "Observability"}),
        ("gpu+cpu", {"GpuFleet", "CpuFleet", "Observability"}),
    ],
)
def test_the_run_mode_picks_the_workers(
    root: dict[str, Any], mode: str, expected: set[str]
) -> None:
    conditions = _conditions(root, {"RunMode": mode})
    workers = {
        "WorkerFunction",
        "WorkerRole",
        "WorkerLogGroup",
        "GpuFleet",
        "CpuFleet",
        "Observability",
    }
    present = {n for n in workers if conditions.get(root["Resources"][n].get("Condition"), True)}
    assert present == expected
    wake = root["Resources"]["CpuFleet"]["Properties"]["Parameters"]["WakeMetric"]
    fallback = conditions[wake["Fn::If"][0]]
    assert fallback == (mode == "gpu+cpu")  # beside a GPU fleet, the CPU fleet is the fallback


def test_uploads_expire_and_incomplete_uploads_are_aborted(root: dict[str, Any]) -> None:
    res = root["Resources"]
    rules = {
        r["Id"]: r for r in res["InputBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    }
    assert rules["expire-watched-uploads"]["Prefix"] == {"Ref": "WatchPrefix"}
    assert rules["expire-submitted-uploads"]["Prefix"] == {"Ref": "SubmitPrefix"}
    for rule in ("expire-watched-uploads", "expire-submitted-uploads"):
        assert rules[rule]["ExpirationInDays"] == {"Ref": "ProcessedUploadDays"}
    for bucket in ("InputBucket", "OutputBucket"):
        [abort] = [
            r
            for r in res[bucket]["Properties"]["LifecycleConfiguration"]["Rules"]
            if "AbortIncompleteMultipartUpload" in r
        ]
        assert "Prefix" not in abort
    outputs = res["OutputBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    [(condition, expire, absent)] = [r["Fn::If"] for r in outputs if "Fn::If" in r]
    assert (condition, absent) == ("ExpireOutputs", {"Ref": "AWS::NoValue"})
    assert expire["Prefix"] == {"Fn::Sub": "${OutputPrefix}/"}  # the packages, by segment
    assert expire["ExpirationInDays"] == {"Ref": "OutputRetentionDays"}
    for days, on in (("0", False), ("30", True)):  # as CloudFormation passes them: text
        assert _conditions(root, {"OutputRetentionDays": days})["ExpireOutputs"] is on
    ttl = res["JobsTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expires_at", "Enabled": True}


@pytest.mark.parametrize("cmk", [True, False])
def test_a_customer_key_encrypts_queues_topic_buckets_and_table(
    root: dict[str, Any], cmk: bool
) -> None:
    conditions = _conditions(root, {"KmsKeyArn": "arn:aws:kms:us-east-1:1:key/k" if cmk else ""})
    assert conditions["UseCmk"] == cmk
    res = root["Resources"]

    def chosen(node: Any) -> Any:
        [name, yes, no] = node["Fn::If"]
        return yes if conditions[name] else no

    key = {"Ref": "KmsKeyArn"}
    no_value = {"Ref": "AWS::NoValue"}
    for queue in ("JobsQueue", "HighJobsQueue", "LowJobsQueue", "DeadLetterQueue"):
        props = res[queue]["Properties"]
        assert chosen(props["KmsMasterKeyId"]) == (key if cmk else no_value)
        assert chosen(props["SqsManagedSseEnabled"]) == (no_value if cmk else True)
    assert chosen(res["EventsTopic"]["Properties"]["KmsMasterKeyId"]) == (key if cmk else no_value)
    for bucket in ("InputBucket", "OutputBucket"):
        [sse] = res[bucket]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        default = chosen(sse["ServerSideEncryptionByDefault"])
        assert default["SSEAlgorithm"] == ("aws:kms" if cmk else "AES256")
    table = chosen(res["JobsTable"]["Properties"]["SSESpecification"])
    assert table == (
        {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": key} if cmk else no_value
    )


def test_every_queue_jobs_wait_on_has_an_age_alarm_and_a_dashboard_line(
    root: dict[str, Any], observability: dict[str, Any]
) -> None:
    """The jobs queue and the high and low ones (each with a redrive policy: the DLQ is not
    one), as the root passes them to the observability stack, each watched for jobs waiting
    too long: a low job held back behind a flood of high ones shows as its own alarm."""
    queues = {
        name for name, r in root["Resources"].items()
        if r["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in r["Properties"]
    }  # fmt: skip
    assert queues == {"JobsQueue", "HighJobsQueue", "LowJobsQueue"}
    given = root["Resources"]["Observability"]["Properties"]["Parameters"]
    params = {
        p for p, v in given.items() if v in [{"Fn::GetAtt": [q, "QueueName"]} for q in queues]
    }
    assert len(params) == 3

    alarmed = [
        r["Properties"] for r in observability["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and r["Properties"].get("MetricName") == "ApproximateAgeOfOldestMessage"
    ]  # fmt: skip
    watched = {d["Value"]["Ref"] for a in alarmed for d in a["Dimensions"]}
    assert watched == params
    for alarm in alarmed:
        assert alarm["Threshold"] == {"Ref": "OldestMessageAlarmSeconds"}
        assert alarm["Namespace"] == "AWS/SQS"

    body = observability["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(body)["widgets"]
    [oldest] = [w for w in widgets if w["properties"]["title"].startswith("Oldest waiting job")]
    lines = oldest["properties"]["metrics"]
    assert {line[3] for line in lines} == {f"${{{p}}}" for p in params}

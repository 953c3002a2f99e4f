"""The whole system's templates: template.yaml and its nested stacks (templates/), as SAM
transforms them and as cfn-lint reads them; every setting reachable; the run modes, the
scaling rule, the alarms' metrics and the retention rules as the templates state them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.decode import decode
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from core.hardening import DEFAULT_CODECS
from infra import metrics
from infra.settings import Settings
from tests.template_role import FLEET_ONLY, as_list, container_policy, fleet_task_policy, statements

ROOT = Path(__file__).parents[2]
TEMPLATES = [ROOT / "template.yaml", *sorted((ROOT / "templates").glob("*.yaml"))]
SAM = "AWS::Serverless-2016-10-31"

# Settings no deployment sets through the template, each with why.
NOT_IN_THE_TEMPLATE = {
    "FFAPI_PRESETS_FILE": "a file in the image: bake it into an image built FROM ours",
    "FFAPI_FFMPEG": "the images put their ffmpeg on PATH; the function's layer on /opt/bin",
    "FFAPI_FFPROBE": "as FFAPI_FFMPEG",
    "FFAPI_WEBHOOK_ALLOW_LOOPBACK": "development only (http:// and loopback webhooks)",
}


def load(path: Path) -> dict[str, Any]:
    doc, problems = decode(str(path))
    assert not problems, problems
    return dict(json.loads(json.dumps(doc)))


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


@pytest.fixture(scope="module")
def root() -> dict[str, Any]:
    return load(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def fleet() -> dict[str, Any]:
    return load(ROOT / "templates" / "fleet.yaml")


@pytest.fixture(scope="module")
def observability() -> dict[str, Any]:
    return load(ROOT / "templates" / "observability.yaml")


def test_cfn_lint_finds_nothing_in_any_template() -> None:
    result = cfn_lint(*TEMPLATES)
    assert result.returncode == 0, result.stdout + result.stderr


# The nested templates hold no SAM resource: CloudFormation reads them as they are.
SAM_TEMPLATES = [p for p in TEMPLATES if SAM in json.dumps(load(p).get("Transform", []))]


def test_only_the_root_template_needs_the_sam_transform() -> None:
    assert SAM_TEMPLATES == [ROOT / "template.yaml"]
    for path in TEMPLATES[1:]:
        assert not any(r["Type"].startswith("AWS::Serverless::")
                       for r in load(path)["Resources"].values())  # fmt: skip


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
    [worker] = [c for c in fleet["Resources"]["TaskDefinition"]["Properties"][
        "ContainerDefinitions"] if c["Name"] == "worker"]  # fmt: skip
    names = [e["Name"] for e in worker["Environment"]]
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
    [worker] = [c for c in fleet["Resources"]["TaskDefinition"]["Properties"][
        "ContainerDefinitions"] if c["Name"] == "worker"]  # fmt: skip
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
    workers = {"WorkerFunction", "WorkerRole", "WorkerLogGroup", "GpuFleet", "CpuFleet",
               "Observability"}  # fmt: skip
    present = {n for n in workers if conditions.get(root["Resources"][n].get("Condition"), True)}
    assert present == expected
    wake = root["Resources"]["CpuFleet"]["Properties"]["Parameters"]["WakeMetric"]
    fallback = conditions[wake["Fn::If"][0]]
    assert fallback == (mode == "gpu+cpu")  # beside a GPU fleet, the CPU fleet is the fallback


def test_the_gpu_fleet_runs_on_gpu_instances_and_the_cpu_fleet_on_fargate(
    fleet: dict[str, Any],
) -> None:
    res = fleet["Resources"]
    on_gpu = {n for n, r in res.items() if r.get("Condition") == "OnGpu"}
    assert on_gpu == {"InstanceRole", "InstanceProfile", "LaunchTemplate", "GpuInstances",
                      "GpuCapacity"}  # fmt: skip
    image = res["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["ImageId"]
    assert image.startswith("{{resolve:ssm:/aws/service/ecs/optimized-ami/")
    assert "/gpu/" in image
    [worker, _] = res["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    assert worker["ResourceRequirements"] == {
        "Fn::If": ["OnGpu", [{"Type": "GPU", "Value": "1"}], {"Ref": "AWS::NoValue"}]
    }
    strategy = res["Service"]["Properties"]["CapacityProviderStrategy"][0]["CapacityProvider"]
    assert strategy == {"Fn::If": ["OnGpu", {"Ref": "GpuCapacity"}, {"Ref": "FargateCapacity"}]}
    assert fleet["Parameters"]["FargateCapacity"]["AllowedValues"] == ["FARGATE_SPOT", "FARGATE"]


def _backlog_load(
    fleet: dict[str, Any], visible: float, running: float, job: int, wait: int
) -> float:
    """The target-tracking expression, evaluated as CloudWatch would for these values."""
    policy = fleet["Resources"]["BacklogTracking"]["Properties"]
    spec = policy["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]
    [expression] = [m["Expression"]["Fn::Sub"] for m in spec["Metrics"] if "Expression" in m]
    ids = {m["Id"] for m in spec["Metrics"]}
    assert set(re.findall(r"\b[a-z_]+\b", expression)) <= ids
    text = expression.replace("${JobSeconds}", str(job))
    text = text.replace("${AcceptableWaitSeconds}", str(wait))
    return float(eval(text, {"__builtins__": {}}, {"visible": visible, "running": running}))


def test_the_fleet_tracks_backlog_per_task_against_wait_over_job_time(
    fleet: dict[str, Any],
) -> None:
    config = fleet["Resources"]["BacklogTracking"]["Properties"][
        "TargetTrackingScalingPolicyConfiguration"]  # fmt: skip
    target = config["TargetValue"]
    # 300 s acceptable wait, 60 s per job: 5 waiting jobs per running task is just right.
    assert _backlog_load(fleet, visible=10, running=2, job=60, wait=300) == target
    assert _backlog_load(fleet, visible=30, running=2, job=60, wait=300) > target  # out
    assert _backlog_load(fleet, visible=2, running=2, job=60, wait=300) < target  # in
    assert _backlog_load(fleet, visible=0, running=3, job=60, wait=300) == 0  # to zero
    target_of = fleet["Resources"]["ScalableTarget"]["Properties"]
    assert target_of["MinCapacity"] == 0
    assert target_of["MaxCapacity"] == {"Ref": "MaxTasks"}


def test_a_fleet_at_zero_wakes_on_waiting_work(fleet: dict[str, Any]) -> None:
    alarm = fleet["Resources"]["WakeAlarm"]["Properties"]
    assert alarm["AlarmActions"] == [{"Ref": "WakePolicy"}]
    [expression] = [m["Expression"]["Fn::Sub"] for m in alarm["Metrics"] if "Expression" in m]
    by_id = {m["Id"]: m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert by_id["wake"]["MetricName"] == {"Ref": "WakeMetric"}
    assert by_id["desired"]["MetricName"] == "DesiredTaskCount"

    def fires(wake: float, desired: float | None, above: int) -> bool:
        text = expression.replace("${WakeAbove}", str(above)).replace("AND", "and")
        text = re.sub(r"IF\((.*), 1, 0\)", r"(1 if \1 else 0)", text)
        text = text.replace("FILL(desired, 0)", "(0 if desired is None else desired)")
        verdict = eval(text, {"__builtins__": {}}, {"wake": wake, "desired": desired})
        return float(verdict) >= alarm["Threshold"]

    assert fires(wake=3, desired=0, above=0)
    assert fires(wake=3, desired=None, above=0)  # no data yet for a new service
    assert not fires(wake=0, desired=0, above=0)
    assert not fires(wake=3, desired=2, above=0)  # target tracking's from here on
    assert not fires(wake=300, desired=0, above=600)  # the fallback waits for the GPU fleet
    step = fleet["Resources"]["WakePolicy"]["Properties"]["StepScalingPolicyConfiguration"]
    assert step["AdjustmentType"] == "ExactCapacity"
    assert step["StepAdjustments"] == [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]


def _published_names(fleet: dict[str, Any]) -> dict[str, set[str]]:
    """The worker's metrics as the collector publishes them: each name the rename rule in
    the sidecar's configuration makes of a Prometheus name, with the metric's labels."""
    [_, sidecar] = fleet["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    config = sidecar["Environment"][0]["Value"]["Fn::Sub"]
    include = re.search(r"- include: (\S+)", config)
    new_name = re.search(r"new_name: (\S+)", config)
    assert include
    assert new_name
    replacement = new_name.group(1).replace("$${!1}", r"\1")
    published = {}
    for collector in (getattr(metrics, n) for n in dir(metrics) if n.isupper()):
        if not hasattr(collector, "_name"):
            continue
        for family in collector.describe():
            name = re.sub(include.group(1), replacement, family.name)
            published[name] = set(collector._labelnames)
    return published


def test_the_alarms_and_dashboard_name_metrics_the_worker_publishes(
    fleet: dict[str, Any], observability: dict[str, Any]
) -> None:
    published = _published_names(fleet)
    assert {"ffapi_jobs", "ffapi_accel_fallbacks", "ffapi_job_phase_seconds"} <= set(published)
    used: list[tuple[str, set[str]]] = []
    for resource in observability["Resources"].values():
        props = resource["Properties"]
        if props.get("Namespace") == {"Ref": "MetricsNamespace"}:
            used.append((props["MetricName"], {d["Name"] for d in props.get("Dimensions", [])}))
        for query in props.get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric", {})
            if metric.get("Namespace") == {"Ref": "MetricsNamespace"}:
                used.append((metric["MetricName"], {d["Name"] for d in metric["Dimensions"]}))
    body = observability["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    for widget in json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]:
        for line in widget["properties"]["metrics"]:
            if line[0] == "x" and line[1].startswith("ffapi_"):
                names = [v for v in line[2:] if isinstance(v, str)]
                used.append((line[1], set(names[0::2])))
    assert len(used) >= 10
    for name, dimensions in used:
        assert name in published, name
        assert dimensions <= published[name], (name, dimensions)


def test_alarms_cover_dead_letters_age_failures_and_fallbacks(
    observability: dict[str, Any],
) -> None:
    res = observability["Resources"]
    assert res["DeadLettersAlarm"]["Properties"]["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Ref": "DeadLetterQueueName"}}
    ]
    assert res["DeadLettersAlarm"]["Properties"]["Threshold"] == 0
    assert res["OldestMessageAlarm"]["Properties"]["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert res["FailureRateAlarm"]["Condition"] == "HasWorkerMetrics"
    assert res["GpuFallbacksAlarm"]["Properties"]["MetricName"] == "ffapi_accel_fallbacks"


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
        [abort] = [r for r in res[bucket]["Properties"]["LifecycleConfiguration"]["Rules"]
                   if "AbortIncompleteMultipartUpload" in r]  # fmt: skip
        assert "Prefix" not in abort
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
    for queue in ("JobsQueue", "DeadLetterQueue"):
        props = res[queue]["Properties"]
        assert chosen(props["KmsMasterKeyId"]) == (key if cmk else no_value)
        assert chosen(props["SqsManagedSseEnabled"]) == (no_value if cmk else True)
    assert chosen(res["EventsTopic"]["Properties"]["KmsMasterKeyId"]) == (key if cmk else no_value)
    for bucket in ("InputBucket", "OutputBucket"):
        [sse] = res[bucket]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        default = chosen(sse["ServerSideEncryptionByDefault"])
        assert default["SSEAlgorithm"] == ("aws:kms" if cmk else "AES256")
    table = chosen(res["JobsTable"]["Properties"]["SSESpecification"])
    assert table == ({"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": key} if cmk
                     else no_value)  # fmt: skip


DOCUMENTED = {  # docs/iam.md's example names, as the root stack would pass them
    "InputBucket": "my-uploads", "OutputBucket": "my-renditions", "WatchPrefix": "incoming/",
    "SubmitPrefix": "submitted/", "OutputPrefix": "outputs",
    "QueueArn": "arn:aws:sqs:us-east-1:123456789012:ffapi-jobs",
    "EventsTopic": "arn:aws:sns:us-east-1:123456789012:ffapi-events", "JobsTable": "ffapi-jobs",
}  # fmt: skip


def test_the_fleets_task_role_is_the_documented_one_plus_protection_and_metrics() -> None:
    """The statements docs/iam.md documents for the container worker (which
    tests/integration/test_iam_task_role.py runs a job on), and only two more."""
    found = {st["Sid"]: st for st in statements(fleet_task_policy(DOCUMENTED))}
    documented = {st["Sid"]: st for st in statements(container_policy())}
    assert set(found) == set(documented) | FLEET_ONLY
    for sid, st in documented.items():
        assert set(as_list(st["Action"])) == set(as_list(found[sid]["Action"])), sid
        assert set(as_list(st["Resource"])) == set(as_list(found[sid]["Resource"])), sid
        assert st.get("Condition") == found[sid].get("Condition"), sid
    assert (
        found["ProtectTask"]["Resource"] == "arn:aws:ecs:us-east-1:123456789012:task/ffapi-fleet/*"
    )
    assert set(found["ProtectTask"]["Action"]) == {
        "ecs:UpdateTaskProtection",
        "ecs:GetTaskProtection",
    }
    assert found["PublishMetrics"]["Resource"] == (
        "arn:aws:logs:us-east-1:123456789012:log-group:/ffapi/metrics:*"
    )


def test_the_fleet_roles_hold_no_wildcard_but_ecr_login(fleet: dict[str, Any]) -> None:
    for name, resource in fleet["Resources"].items():
        if resource["Type"] not in ("AWS::IAM::Role", "AWS::IAM::Policy"):
            continue
        props = resource["Properties"]
        docs = [p["PolicyDocument"] for p in props.get("Policies", [])]
        docs += [props["PolicyDocument"]] if "PolicyDocument" in props else []
        for st in (st for doc in docs for st in statements(doc)):
            assert all("*" not in a for a in as_list(st["Action"])), (name, st)
            if st["Resource"] == "*":
                assert st["Action"] == "ecr:GetAuthorizationToken"  # no resource-level form
    # Only the GPU instances' role takes a managed policy: the ECS agent's, on EC2.
    managed = {n for n, r in fleet["Resources"].items() if "ManagedPolicyArns" in r["Properties"]}
    assert managed == {"InstanceRole"}

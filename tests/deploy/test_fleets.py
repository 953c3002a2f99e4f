"""The ECS fleets (templates/fleet.yaml) and their alarms (templates/observability.yaml):
capacity, the scaling rule evaluated, the metrics the alarms name, the roles and wiring."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from core.jobs.results import output_key
from core.media.hardening import DEFAULT_CODECS
from handlers.submit import submit_key
from infra import metrics
from infra.settings import Settings
from tests.template_role import (
    FLEET_ONLY,
    Stack,
    allows,
    as_list,
    container_policy,
    fleet_task_policy,
    statements,
)


def test_the_gpu_fleet_runs_on_gpu_instances_and_the_cpu_fleet_on_fargate(
    root: dict[str, Any], fleet: dict[str, Any]
) -> None:
    ami = root["Parameters"]["GpuAmiParameter"]
    assert re.fullmatch(ami["AllowedPattern"], ami["Default"])  # an ECS GPU-optimized AMI
    assert not re.fullmatch(
        ami["AllowedPattern"],
        "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
    )
    res = fleet["Resources"]
    on_gpu = {n for n, r in res.items() if r.get("Condition") == "OnGpu"}
    assert on_gpu == {
        "InstanceRole",
        "InstanceProfile",
        "LaunchTemplate",
        "GpuInstances",
        "GpuCapacity",
    }
    image = res["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["ImageId"]
    assert image == {"Fn::Sub": "{{resolve:ssm:${GpuAmiParameter}}}"}
    [worker, _] = res["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    assert worker["ResourceRequirements"] == {
        "Fn::If": ["OnGpu", [{"Type": "GPU", "Value": "1"}], {"Ref": "AWS::NoValue"}]
    }
    strategy = res["Service"]["Properties"]["CapacityProviderStrategy"][0]["CapacityProvider"]
    assert strategy == {"Fn::If": ["OnGpu", {"Ref": "GpuCapacity"}, {"Ref": "FargateCapacity"}]}
    assert fleet["Parameters"]["FargateCapacity"]["AllowedValues"] == ["FARGATE_SPOT", "FARGATE"]


def _backlog_load(
    fleet: dict[str, Any], visible: float, running: float, job: int, wait: int,
    high: float = 0, low: float = 0,
) -> float:  # fmt: skip
    """The target-tracking expression, evaluated as CloudWatch would for these values."""
    policy = fleet["Resources"]["BacklogTracking"]["Properties"]
    spec = policy["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]
    [expression] = [m["Expression"]["Fn::Sub"] for m in spec["Metrics"] if "Expression" in m]
    ids = {m["Id"] for m in spec["Metrics"]}
    assert set(re.findall(r"\b[a-z_]+\b", expression)) <= ids
    text = expression.replace("${JobSeconds}", str(job))
    text = text.replace("${AcceptableWaitSeconds}", str(wait))
    values = {"visible": visible, "visible_high": high, "visible_low": low, "running": running}
    return float(eval(text, {"__builtins__": {}}, values))


def test_the_fleet_tracks_backlog_per_task_against_wait_over_job_time(
    fleet: dict[str, Any],
) -> None:
    config = fleet["Resources"]["BacklogTracking"]["Properties"][
        "TargetTrackingScalingPolicyConfiguration"
    ]
    target = config["TargetValue"]
    # 300 s acceptable wait, 60 s per job: 5 waiting jobs per running task is just right.
    assert _backlog_load(fleet, visible=10, running=2, job=60, wait=300) == target
    assert _backlog_load(fleet, visible=30, running=2, job=60, wait=300) > target  # out
    assert _backlog_load(fleet, visible=2, running=2, job=60, wait=300) < target  # in
    assert _backlog_load(fleet, visible=0, running=3, job=60, wait=300) == 0  # to zero
    # Every task polls the three priority queues (core/jobs/priority.py): their backlogs add.
    assert _backlog_load(fleet, visible=4, high=3, low=3, running=2, job=60, wait=300) == target
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

    for lane in ("wake_high", "wake_low"):
        assert by_id[lane]["MetricName"] == {"Ref": "WakeMetric"}

    def fires(
        wake: float, desired: float | None, above: int, high: float = 0, low: float = 0
    ) -> bool:
        text = expression.replace("${WakeAbove}", str(above)).replace("AND", "and")
        text = re.sub(r"IF\((.*), 1, 0\)", r"(1 if \1 else 0)", text)
        text = re.sub(r"FILL\((\w+), 0\)", r"(0 if \1 is None else \1)", text)
        text = text.replace("MAX([", "max([")
        values = {"wake": wake, "desired": desired, "wake_high": high, "wake_low": low}
        verdict = eval(text, {"__builtins__": {"max": max}}, values)
        threshold: float = alarm["Threshold"]
        return float(verdict) >= threshold

    assert fires(wake=3, desired=0, above=0)
    assert fires(wake=3, desired=None, above=0)  # no data yet for a new service
    assert not fires(wake=0, desired=0, above=0)
    assert not fires(wake=3, desired=2, above=0)  # target tracking's from here on
    assert not fires(wake=300, desired=0, above=600)  # the fallback waits for the GPU fleet
    assert fires(wake=0, desired=0, above=0, low=1)  # any priority queue wakes it
    assert fires(wake=0, desired=None, above=0, high=2)
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


DOCUMENTED = {  # docs/iam.md's example names, as the root stack would pass them
    "InputBucket": "my-uploads", "OutputBucket": "my-renditions", "WatchPrefix": "incoming/",
    "SubmitPrefix": "submitted/", "OutputPrefix": "outputs",
    "QueueArn": "arn:aws:sqs:us-east-1:123456789012:ffapi-jobs",
    "DeadLetterQueueName": "ffapi-jobs-dlq",
    "HighQueueName": "ffapi-jobs-high", "LowQueueName": "ffapi-jobs-low",
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


# What each fleet's worker is pointed at, traced from its variable to the root's resource.
WIRING = {
    "FFAPI_INPUT_BUCKET": ("InputBucket", {"Ref": "InputBucket"}),
    "FFAPI_OUTPUT_BUCKET": ("OutputBucket", {"Ref": "OutputBucket"}),
    "FFAPI_JOBS_QUEUE": ("QueueName", {"Fn::GetAtt": ["JobsQueue", "QueueName"]}),
    "FFAPI_HIGH_QUEUE": ("HighQueueName", {"Fn::GetAtt": ["HighJobsQueue", "QueueName"]}),
    "FFAPI_LOW_QUEUE": ("LowQueueName", {"Fn::GetAtt": ["LowJobsQueue", "QueueName"]}),
    "FFAPI_DEAD_LETTER_QUEUE": (
        "DeadLetterQueueName",
        {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]},
    ),
    "FFAPI_EVENTS_TOPIC": ("EventsTopic", {"Ref": "EventsTopic"}),
    "FFAPI_JOBS_TABLE": ("JobsTable", {"Ref": "JobsTable"}),
    "FFAPI_WATCH_PREFIX": ("WatchPrefix", {"Ref": "WatchPrefix"}),
    "FFAPI_SUBMIT_PREFIX": ("SubmitPrefix", {"Ref": "SubmitPrefix"}),
    "FFAPI_OUTPUT_PREFIX": ("OutputPrefix", {"Ref": "OutputPrefix"}),
}


@pytest.mark.parametrize("stack", ["GpuFleet", "CpuFleet"])
def test_each_fleet_works_on_the_root_stacks_resources(
    root: dict[str, Any], fleet: dict[str, Any], stack: str
) -> None:
    given = root["Resources"][stack]["Properties"]["Parameters"]
    [worker, _] = fleet["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    env = {e["Name"]: e["Value"] for e in worker["Environment"]}
    for variable, (parameter, source) in WIRING.items():
        assert env[variable] == {"Ref": parameter}, variable
        assert given[parameter] == source, parameter
    # The grants name the same resources: the queue's ARN and name are one queue's.
    assert given["QueueArn"] == {"Fn::GetAtt": ["JobsQueue", "Arn"]}
    # Webhook URLs (tokens) and signing secrets come from Secrets Manager, not the task
    # definition's plain-text environment; the root stack makes them from its parameters.
    secrets = {e["Name"]: e["ValueFrom"] for e in worker["Secrets"]}
    for variable, parameter, secret, value in [
        ("FFAPI_WEBHOOK_ENDPOINTS", "WebhookEndpointsSecretArn", "WebhookEndpointsSecret",
         "WebhookEndpoints"),
        ("FFAPI_WEBHOOK_SECRETS", "WebhookSecretsSecretArn", "WebhookSecretsSecret",
         "WebhookSecrets"),
    ]:  # fmt: skip
        assert secrets[variable] == {"Ref": parameter}
        assert variable not in env
        assert given[parameter] == {"Ref": secret}
        made = root["Resources"][secret]["Properties"]["SecretString"]
        assert made == {"Ref": value}
        assert root["Parameters"][value]["NoEcho"] is True
    execution = fleet["Resources"]["ExecutionRole"]["Properties"]["Policies"][0]
    [read] = [
        st for st in statements(execution["PolicyDocument"]) if st["Sid"] == "ReadWebhookSecrets"
    ]
    assert read["Resource"] == [
        {"Ref": "WebhookEndpointsSecretArn"},
        {"Ref": "WebhookSecretsSecretArn"},
    ]


def test_the_keys_the_fleet_worker_derives_are_the_ones_its_role_covers(
    fleet: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings built from the task definition's own environment (the documented names as
    the nested stack's parameters), keys made by the code's own functions."""
    parameters = {
        **DOCUMENTED,
        "QueueName": "ffapi-jobs",
        "Preset": "web-hls",
        "MaxReceiveCount": "3",
        "WorkerConcurrency": "2",
        "AllowedCodecs": ",".join(DEFAULT_CODECS),
    }
    stack = Stack(fleet, {}, parameters)
    [worker, _] = fleet["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    for env in worker["Environment"]:
        if "Fn::If" not in env["Value"]:  # FFAPI_ACCEL: per fleet, not a resource
            monkeypatch.setenv(env["Name"], str(stack.resolve(env["Value"])))
    settings = Settings()
    policies = [fleet_task_policy(DOCUMENTED)]
    bucket_arn = f"arn:aws:s3:::{settings.input_bucket}"
    for key in (f"{settings.watch_prefix}clip.mp4", submit_key(settings, "clip.mp4")):
        assert allows(policies, "s3:GetObject", f"{bucket_arn}/{key}")
        assert allows(policies, "s3:ListBucket", bucket_arn, {"s3:prefix": key})
    out = settings.output_location
    for name in ("job.json", "cmaf/master.m3u8"):
        key = output_key(out, "j-0123456789abcdef01234567", name)
        for action in ("s3:PutObject", "s3:GetObject", "s3:DeleteObject"):
            assert allows(policies, action, f"arn:aws:s3:::{out.bucket}/{key}")
    queue = DOCUMENTED["QueueArn"]
    assert queue.rsplit(":", 1)[1] == settings.jobs_queue
    for action in ("sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl"):
        assert allows(policies, action, queue)
    dlq = f"arn:aws:sqs:us-east-1:123456789012:{settings.dead_letter_queue}"
    for action in ("sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl"):
        assert allows(policies, action, dlq)  # the dead-letter sweep
    for action in ("sqs:DeleteMessage", "sqs:SendMessage"):
        assert not allows(policies, action, dlq)  # moving letters is the operator's
    table = f"arn:aws:dynamodb:us-east-1:123456789012:table/{settings.jobs_table}"
    assert allows(policies, "dynamodb:UpdateItem", table)
    assert allows(policies, "sns:Publish", settings.events_topic)
    assert settings.allowed_codecs == list(DEFAULT_CODECS)


def test_the_collector_configuration_is_one_pipeline_of_defined_parts(
    fleet: dict[str, Any],
) -> None:
    [_, sidecar] = fleet["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    text = sidecar["Environment"][0]["Value"]["Fn::Sub"]
    rendered = re.sub(r"\$\{(?!!)[^}]+\}", "x", text).replace("${!", "${")
    config = yaml.safe_load(rendered)
    [pipeline] = config["service"]["pipelines"].values()
    for part in ("receivers", "processors", "exporters"):
        assert set(pipeline[part]) <= set(config[part]), part
    assert config["receivers"]["prometheus"]["config"]["scrape_configs"][0]["static_configs"] == [
        {"targets": ["127.0.0.1:8080"]}  # the worker's FFAPI_HTTP_PORT, in the same task
    ]
    assert config["exporters"]["awsemf"]["log_group_name"] == "x"  # ${MetricsLogGroup}

"""The SAM template: valid CloudFormation, and wired to settings and a handler that exist."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from core.jobs.results import output_key
from handlers.submit import submit_key
from infra.settings import Settings
from tests.template_role import Stack, allows, as_list, container_policy, statements

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
    events = fn["Events"]
    assert set(events) == {"Jobs", "JobsHigh", "JobsLow", "SweepDeadLetters"}
    for name, queue_name in (
        ("Jobs", "JobsQueue"), ("JobsHigh", "HighJobsQueue"), ("JobsLow", "LowJobsQueue"),
    ):  # fmt: skip
        event = events[name]
        assert event["Type"] == "SQS"
        assert event["Properties"]["Queue"] == {"Fn::GetAtt": [queue_name, "Arn"]}
        assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        queue = template["Resources"][queue_name]["Properties"]
        assert queue["VisibilityTimeout"] >= fn["Timeout"]  # Lambda refuses the mapping otherwise
        assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
            "Fn::GetAtt": ["DeadLetterQueue", "Arn"]
        }
    # The schedule invokes the dead-letter sweep (handlers.sqs_lambda, a Scheduled Event).
    assert events["SweepDeadLetters"]["Type"] == "Schedule"
    assert fn["Environment"]["Variables"]["FFAPI_DEAD_LETTER_QUEUE"] == {"Ref": "DeadLetterQueue"}
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


# The worker's role. Every call the function makes in Lambda mode, as IAM authorizes it:
#   S3ObjectStore.head, .download (an input)   s3:GetObject (+ s3:GetObjectVersion with a VersionId)
#   S3ObjectStore._listed (after a 403)        s3:ListBucket, s3:prefix = the key
#   .upload_file, .put_bytes, .put_new         s3:PutObject (multipart: create, parts, complete)
#     a multipart upload that fails            s3:AbortMultipartUpload
#   .get_bytes (JobCommit.committed)           s3:GetObject
#   .list_keys (JobCommit.prune)               s3:ListBucket, s3:prefix = the job's prefix
#   .delete_keys (DeleteObjects)               s3:DeleteObject, checked per key
#   DynamoJobStore.claim/renew/complete/...    dynamodb:UpdateItem (conditional)
#   DynamoJobStore.get                         dynamodb:GetItem
#   SnsPublisher.publish                       sns:Publish
#   Lambda's SQS poller (not our code)         sqs:ReceiveMessage, DeleteMessage, GetQueueAttributes
#     (on the jobs queue and the high and low ones)
#   a job for later, requeued (sqs_lambda)     sqs:SendMessage (the queue it came from, by URL)
#   DeadLetters.visit (the scheduled sweep)    sqs:ReceiveMessage, ChangeMessageVisibility (the DLQ)
#   Lambda's log agent                         logs:CreateLogStream, logs:PutLogEvents
# Not called in Lambda mode: sqs:ChangeMessageVisibility on the jobs queue and sqs:GetQueueUrl
# (the container worker's), dynamodb:Scan (`ffapi jobs`). The topic is given as an ARN: nothing
# is called for it.
NAMES = {
    "InputBucket": "ffapi-input-123456789012", "OutputBucket": "ffapi-output-bucket",
    "JobsQueue": "ffapi-JobsQueue", "DeadLetterQueue": "ffapi-DeadLetterQueue",
    "HighJobsQueue": "ffapi-HighJobsQueue", "LowJobsQueue": "ffapi-LowJobsQueue",
    "EventsTopic": "ffapi-EventsTopic", "JobsTable": "ffapi-JobsTable",
    "WorkerLogGroup": "/aws/lambda/ffapi-worker", "WorkerRole": "ffapi-WorkerRole",
}  # fmt: skip
IN, OUT = "arn:aws:s3:::ffapi-input-123456789012", "arn:aws:s3:::ffapi-output-bucket"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:ffapi-JobsQueue"
HIGH = "arn:aws:sqs:us-east-1:123456789012:ffapi-HighJobsQueue"
LOW = "arn:aws:sqs:us-east-1:123456789012:ffapi-LowJobsQueue"
DLQ = "arn:aws:sqs:us-east-1:123456789012:ffapi-DeadLetterQueue"
TOPIC = "arn:aws:sns:us-east-1:123456789012:ffapi-EventsTopic"
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/ffapi-JobsTable"
LOGS = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/ffapi-worker"

EXPECTED_STATEMENTS = {
    "ReadInputs": (
        {"s3:GetObject", "s3:GetObjectVersion"},
        {f"{IN}/incoming/*", f"{IN}/submitted/*"},
        None,
    ),
    "ListInputs": (
        {"s3:ListBucket"},
        {IN},
        {"StringLike": {"s3:prefix": ["incoming/*", "submitted/*"]}},
    ),
    "WriteOutputs": (
        {"s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"},
        {f"{OUT}/outputs/*"},
        None,
    ),
    "ListOutputs": ({"s3:ListBucket"}, {OUT}, {"StringLike": {"s3:prefix": "outputs/*"}}),
    "ConsumeJobs": (
        {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"},
        {QUEUE, HIGH, LOW},
        None,
    ),
    "RequeueJobs": ({"sqs:SendMessage"}, {QUEUE, HIGH, LOW}, None),
    "SweepDeadLetters": ({"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility"}, {DLQ}, None),
    "AnnounceEvents": ({"sns:Publish"}, {TOPIC}, None),
    "RecordJobs": ({"dynamodb:GetItem", "dynamodb:UpdateItem"}, {TABLE}, None),
    "WriteLogs": ({"logs:CreateLogStream", "logs:PutLogEvents"}, {f"{LOGS}:*"}, None),
}

NEEDED = [
    ("s3:GetObject", f"{IN}/incoming/clip.mp4", {}),
    ("s3:GetObjectVersion", f"{IN}/incoming/clip.mp4", {}),
    ("s3:GetObject", f"{IN}/submitted/0f3a9c/clip.mp4", {}),
    ("s3:ListBucket", IN, {"s3:prefix": "incoming/gone.mp4"}),
    ("s3:ListBucket", IN, {"s3:prefix": "submitted/0f3a9c/clip.mp4"}),
    ("s3:PutObject", f"{OUT}/outputs/j-1/cmaf/video/seg-1.m4s", {}),
    ("s3:AbortMultipartUpload", f"{OUT}/outputs/j-1/video.mp4", {}),
    ("s3:PutObject", f"{OUT}/outputs/team-a/j-1/job.json", {}),  # a request's own, under it
    ("s3:GetObject", f"{OUT}/outputs/j-1/job.json", {}),
    ("s3:ListBucket", OUT, {"s3:prefix": "outputs/j-1/"}),
    ("s3:ListBucket", OUT, {"s3:prefix": "outputs/j-1/job.json"}),
    ("s3:DeleteObject", f"{OUT}/outputs/j-1/cmaf/video/seg-9.m4s", {}),
    ("sqs:ReceiveMessage", QUEUE, {}),
    ("sqs:DeleteMessage", QUEUE, {}),
    ("sqs:GetQueueAttributes", QUEUE, {}),
    ("sqs:ReceiveMessage", HIGH, {}),
    ("sqs:DeleteMessage", LOW, {}),
    ("sqs:SendMessage", QUEUE, {}),  # a job for later, requeued (core/jobs/schedule.py)
    ("sqs:SendMessage", HIGH, {}),
    ("sqs:SendMessage", LOW, {}),
    ("sqs:ReceiveMessage", DLQ, {}),  # the scheduled dead-letter sweep reads letters
    ("sqs:ChangeMessageVisibility", DLQ, {}),  # and makes them visible again
    ("sns:Publish", TOPIC, {}),
    ("dynamodb:UpdateItem", TABLE, {}),
    ("dynamodb:GetItem", TABLE, {}),
    ("logs:CreateLogStream", f"{LOGS}:log-stream:2025/01/01/[$LATEST]abc", {}),
    ("logs:PutLogEvents", f"{LOGS}:log-stream:2025/01/01/[$LATEST]abc", {}),
]

REFUSED = [
    ("s3:GetObject", f"{IN}/library/clip.mp4", {}),  # outside the watch and submit prefixes
    ("s3:GetObject", f"{IN}/incoming-other/clip.mp4", {}),
    ("s3:PutObject", f"{IN}/incoming/clip.mp4", {}),  # a write there would start a job
    ("s3:DeleteObject", f"{IN}/incoming/clip.mp4", {}),
    ("s3:ListBucket", IN, {}),  # the whole bucket
    ("s3:ListBucket", IN, {"s3:prefix": ""}),
    ("s3:ListBucket", IN, {"s3:prefix": "library/"}),
    ("s3:GetObject", f"{OUT}/elsewhere/j-1/job.json", {}),
    ("s3:PutObject", f"{OUT}/outputs-x/j-1/video.mp4", {}),
    ("s3:PutObject", f"{OUT}/video.mp4", {}),
    ("s3:ListBucket", OUT, {}),
    ("s3:ListBucket", OUT, {"s3:prefix": "elsewhere/"}),
    ("s3:PutObjectAcl", f"{OUT}/outputs/j-1/video.mp4", {}),  # no output made public
    ("s3:PutBucketPolicy", OUT, {}),
    ("s3:DeleteBucket", OUT, {}),
    ("sqs:ChangeMessageVisibility", QUEUE, {}),  # the poller settles; our Lambda code never does
    ("sqs:PurgeQueue", QUEUE, {}),
    ("sqs:DeleteMessage", DLQ, {}),  # moving letters is the operator's (`ffapi dlq redrive`)
    ("sqs:SendMessage", DLQ, {}),
    ("sns:Publish", "arn:aws:sns:us-east-1:123456789012:another-topic", {}),
    ("sns:Subscribe", TOPIC, {}),
    ("dynamodb:Scan", TABLE, {}),
    ("dynamodb:PutItem", TABLE, {}),
    ("dynamodb:DeleteItem", TABLE, {}),
    ("dynamodb:DeleteTable", TABLE, {}),
    ("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:123456789012:table/another", {}),
    ("logs:CreateLogGroup", "arn:aws:logs:us-east-1:123456789012:log-group:/x", {}),
    ("logs:PutLogEvents", "arn:aws:logs:us-east-1:123456789012:log-group:/x:log-stream:y", {}),
    ("iam:PassRole", "arn:aws:iam::123456789012:role/ffapi-WorkerRole", {}),
]


@pytest.fixture(scope="module")
def stack(template: dict[str, Any]) -> Stack:
    return Stack(template, NAMES, {})


def test_the_function_runs_as_its_own_role_and_nothing_else(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    fn = resources["WorkerFunction"]["Properties"]
    assert fn["Role"] == {"Fn::GetAtt": ["WorkerRole", "Arn"]}
    assert "Policies" not in fn  # SAM ignores them beside a Role; none is kept to mislead
    assert fn["LoggingConfig"] == {"LogGroup": {"Ref": "WorkerLogGroup"}}
    iam = {name for name, r in resources.items() if str(r["Type"]).startswith("AWS::IAM::")}
    assert iam == {"WorkerRole", "WorkerKeyPolicy", "WorkerConfigPolicy"}
    # The key's statement, only with a customer managed key (tests/deploy/test_stacks.py).
    key_policy = resources["WorkerKeyPolicy"]
    assert key_policy["Condition"] == "LambdaWithCmk"
    assert key_policy["Properties"]["Roles"] == [{"Ref": "WorkerRole"}]
    [use_key] = statements(key_policy["Properties"]["PolicyDocument"])
    assert use_key["Resource"] == {"Ref": "KmsKeyArn"}
    role = resources["WorkerRole"]["Properties"]
    assert set(role) == {"AssumeRolePolicyDocument", "Policies"}  # no managed policies
    [trust] = statements(role["AssumeRolePolicyDocument"])
    assert trust == {
        "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }


def test_the_role_grants_exactly_these_statements(stack: Stack) -> None:
    found = {}
    for policy in stack.role_policies():
        for st in statements(policy):
            assert st["Effect"] == "Allow"
            assert st["Sid"] not in found
            condition = st.get("Condition")
            found[st["Sid"]] = (set(as_list(st["Action"])), set(as_list(st["Resource"])), condition)
    assert found == EXPECTED_STATEMENTS


def test_no_statement_in_the_template_is_a_wildcard(stack: Stack) -> None:
    queue_policy = stack.resolve(
        stack.template["Resources"]["JobsQueuePolicy"]["Properties"]["PolicyDocument"]
    )
    for policy in [*stack.role_policies(), queue_policy]:
        for st in statements(policy):
            assert set(st) <= {"Sid", "Effect", "Principal", "Action", "Resource", "Condition"}
            assert all("*" not in action for action in as_list(st["Action"]))
            for arn in as_list(st["Resource"]):
                assert arn != "*"
                assert ":*:" not in arn
                if arn.startswith("arn:aws:s3:::"):  # an object ARN names a prefix, never bucket/*
                    bucket, _, key = arn.removeprefix("arn:aws:s3:::").partition("/")
                    assert "*" not in bucket
                    assert key != "*"
    # S3 may send to the queue only from the stack's input bucket, in this account.
    [send] = statements(queue_policy)
    assert send["Action"] == "sqs:SendMessage"
    assert send["Principal"] == {"Service": "s3.amazonaws.com"}
    assert set(send["Condition"]) == {"ArnLike", "StringEquals"}


@pytest.mark.parametrize(("action", "resource", "context"), NEEDED)
def test_every_call_the_function_makes_is_granted(
    stack: Stack, action: str, resource: str, context: dict[str, str]
) -> None:
    assert allows(stack.role_policies(), action, resource, context)


@pytest.mark.parametrize(("action", "resource", "context"), REFUSED)
def test_everything_else_is_refused(
    stack: Stack, action: str, resource: str, context: dict[str, str]
) -> None:
    assert not allows(stack.role_policies(), action, resource, context)


def test_the_keys_the_code_derives_are_the_ones_the_role_covers(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings built from the function's own environment, keys made by the code's own
    functions: what it reads and writes lies where the policy says."""
    env = stack.resolve(
        stack.template["Resources"]["WorkerFunction"]["Properties"]["Environment"]["Variables"]
    )
    for name, ref in {
        "FFAPI_INPUT_BUCKET": "InputBucket", "FFAPI_OUTPUT_BUCKET": "OutputBucket",
        "FFAPI_WATCH_PREFIX": "WatchPrefix", "FFAPI_SUBMIT_PREFIX": "SubmitPrefix",
        "FFAPI_OUTPUT_PREFIX": "OutputPrefix", "FFAPI_EVENTS_TOPIC": "EventsTopic",
        "FFAPI_JOBS_TABLE": "JobsTable",
    }.items():  # fmt: skip
        assert stack.template["Resources"]["WorkerFunction"]["Properties"]["Environment"][
            "Variables"
        ][name] == {"Ref": ref}
    for name, value in env.items():  # as Lambda hands them to the function
        monkeypatch.setenv(name, str(value))
    settings = Settings()
    assert settings.events_topic.startswith("arn:")  # so nothing is called to find it
    policies = stack.role_policies()
    bucket_arn = f"arn:aws:s3:::{settings.input_bucket}"
    watched = f"{settings.watch_prefix}clip.mp4"
    submitted = submit_key(settings, "clip.mp4")
    assert settings.intake.rule_for(settings.input_bucket, watched) is not None
    for key in (watched, submitted):
        assert allows(policies, "s3:GetObject", f"{bucket_arn}/{key}")
        assert allows(policies, "s3:ListBucket", bucket_arn, {"s3:prefix": key})
    out = settings.output_location
    out_arn = f"arn:aws:s3:::{out.bucket}"
    for name in ("job.json", "cmaf/master.m3u8", "thumbnails/poster.jpg"):
        key = output_key(out, "j-0123456789abcdef01234567", name)
        for action in ("s3:PutObject", "s3:GetObject", "s3:DeleteObject"):
            assert allows(policies, action, f"{out_arn}/{key}")
    job_prefix = output_key(out, "j-0123456789abcdef01234567", "")
    assert allows(policies, "s3:ListBucket", out_arn, {"s3:prefix": job_prefix})
    table = f"arn:aws:dynamodb:us-east-1:123456789012:table/{settings.jobs_table}"
    assert allows(policies, "dynamodb:UpdateItem", table)
    assert allows(policies, "sns:Publish", settings.events_topic)


@pytest.mark.parametrize("name", ["WatchPrefix", "SubmitPrefix", "OutputPrefix"])
@pytest.mark.parametrize("value", ["", "*", "/", "../x/", "x/../", "./", "a b/", "-x/"])
def test_a_prefix_that_would_widen_the_grants_is_refused_at_deploy(
    template: dict[str, Any], name: str, value: str
) -> None:
    pattern = template["Parameters"][name]["AllowedPattern"]
    assert re.fullmatch(pattern, template["Parameters"][name]["Default"])
    assert not re.fullmatch(pattern, value)


def test_the_documented_task_role_is_the_functions_plus_the_queue_calls_it_makes(
    template: dict[str, Any],
) -> None:
    """docs/iam.md's ECS task role: the template's statements for the documented names,
    without the log group (the awslogs driver's), with the container worker's two extra
    queue calls (heartbeat and hand-back; the queue's URL from its name)."""
    names = {
        "InputBucket": "my-uploads", "OutputBucket": "my-renditions", "JobsQueue": "ffapi-jobs",
        "HighJobsQueue": "ffapi-jobs-high", "LowJobsQueue": "ffapi-jobs-low",
        "DeadLetterQueue": "ffapi-jobs-dlq", "EventsTopic": "ffapi-events",
        "JobsTable": "ffapi-jobs", "WorkerLogGroup": "/aws/lambda/ffapi-worker",
    }  # fmt: skip
    [role] = Stack(template, names, {}).role_policies()
    expected = {st["Sid"]: st for st in statements(role) if st["Sid"] != "WriteLogs"}
    expected["ConsumeJobs"]["Action"] = [
        *expected["ConsumeJobs"]["Action"],
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueUrl",
    ]
    expected["SweepDeadLetters"]["Action"] = [
        *expected["SweepDeadLetters"]["Action"],
        "sqs:GetQueueUrl",
    ]
    documented = {st["Sid"]: st for st in statements(container_policy())}
    assert set(documented) == set(expected)
    for sid, st in documented.items():
        assert set(st) == set(expected[sid]), sid
        assert set(as_list(st["Action"])) == set(as_list(expected[sid]["Action"])), sid
        assert set(as_list(st["Resource"])) == set(as_list(expected[sid]["Resource"])), sid
        assert st.get("Condition") == expected[sid].get("Condition"), sid


CONFIG_OBJECT = "my-config/ffapi-config.toml"


@pytest.mark.parametrize("path", ["template.yaml", "templates/fleet.yaml"])
def test_a_configuration_object_is_the_one_more_object_the_workers_read(path: str) -> None:
    """ConfigObject: FFAPI_CONFIG names it, and a policy of its own (only then) grants the
    GetObject of that object and of nothing beside it; empty, FFAPI_CONFIG is empty (none)."""
    doc = dict(decode(str(ROOT / path))[0])
    lambda_template = path == "template.yaml"
    policy_name = "WorkerConfigPolicy" if lambda_template else "TaskConfigPolicy"
    given = Stack(doc, {}, {"ConfigObject": CONFIG_OBJECT, "RunMode": "lambda"})
    policy = doc["Resources"][policy_name]
    assert given.condition(policy["Condition"])
    [granted] = [given.resolve(policy["Properties"]["PolicyDocument"])]
    assert allows([granted], "s3:GetObject", f"arn:aws:s3:::{CONFIG_OBJECT}")
    assert not allows([granted], "s3:GetObject", "arn:aws:s3:::my-config/other.toml")
    assert not allows([granted], "s3:PutObject", f"arn:aws:s3:::{CONFIG_OBJECT}")
    none = Stack(doc, {}, {"RunMode": "lambda"})
    assert not none.condition(policy["Condition"])
    for stack, expected in ((given, f"s3://{CONFIG_OBJECT}"), (none, "")):
        assert stack.resolve(_config_variable(doc, lambda_template)) == expected


def _config_variable(doc: dict[str, Any], lambda_template: bool) -> Any:
    if lambda_template:
        return doc["Resources"]["WorkerFunction"]["Properties"]["Environment"]["Variables"][
            "FFAPI_CONFIG"
        ]
    [worker, _] = doc["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    [value] = [e["Value"] for e in worker["Environment"] if e["Name"] == "FFAPI_CONFIG"]
    return value


@pytest.mark.parametrize("value", ["my-config/*", "my-config/", "My_Bucket/x.toml", "x"])
def test_a_config_object_that_would_widen_the_grant_is_refused_at_deploy(
    template: dict[str, Any], value: str
) -> None:
    pattern = template["Parameters"]["ConfigObject"]["AllowedPattern"]
    assert re.fullmatch(pattern, "")
    assert re.fullmatch(pattern, CONFIG_OBJECT)
    assert not re.fullmatch(pattern, value)

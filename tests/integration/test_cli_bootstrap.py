"""`ffapi bootstrap` against the emulator: idempotent (the table's TTL turned on once), and it
leaves what others set up (queue policy statements, notification rules) in place."""

from __future__ import annotations

import json

import pytest

from handlers import cli
from infra.bootstrap import NOTIFICATION_ID, bootstrap, same_rule

from .conftest import Stack

pytestmark = pytest.mark.integration


def test_bootstrap_twice_changes_nothing(
    ffapi_env: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = ffapi_env
    s3, sqs = stack.client("s3"), stack.client("sqs")
    depth_after_first = stack.queue_depth(stack.resources.queue_url)  # S3's one s3:TestEvent

    assert cli.main(["bootstrap"]) == 0

    printed = json.loads(capsys.readouterr().out)
    assert printed == stack.resources.as_dict()
    config = s3.get_bucket_notification_configuration(Bucket=stack.settings.input_bucket)
    [rule] = config["QueueConfigurations"]
    assert rule["Id"] == NOTIFICATION_ID
    assert rule["QueueArn"] == stack.resources.queue_arn
    assert rule["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "incoming/"}]
    attrs = sqs.get_queue_attributes(QueueUrl=stack.resources.queue_url, AttributeNames=["All"])
    redrive = json.loads(attrs["Attributes"]["RedrivePolicy"])
    dlq_arn = sqs.get_queue_attributes(
        QueueUrl=stack.resources.dlq_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert redrive == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}
    [statement] = json.loads(attrs["Attributes"]["Policy"])["Statement"]
    assert statement["Condition"] == {
        "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{stack.settings.input_bucket}"}
    }
    assert stack.queue_depth(stack.resources.queue_url) == depth_after_first
    ttl = stack.client("dynamodb").describe_time_to_live(TableName=stack.settings.jobs_table)
    assert ttl["TimeToLiveDescription"] == {  # on, once: the second run asked first
        "TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at",
    }  # fmt: skip


def test_bootstrap_keeps_other_queue_policy_statements(stack: Stack) -> None:
    sqs = stack.client("sqs")
    url = stack.resources.queue_url
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    sns_may_send = {
        "Sid": "sns-fanout",
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": stack.resources.queue_arn,
    }
    policy["Statement"].append(sns_may_send)
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})

    bootstrap(stack.settings)

    after = json.loads(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    assert sorted(st["Sid"] for st in after["Statement"]) == [
        "ffapi-s3-notifications",
        "sns-fanout",
    ]


def test_bootstrap_keeps_other_notification_rules(stack: Stack) -> None:
    s3, sqs = stack.client("s3"), stack.client("sqs")
    other_url = sqs.create_queue(QueueName=f"other-{stack.settings.jobs_queue}")["QueueUrl"]
    other_arn = sqs.get_queue_attributes(QueueUrl=other_url, AttributeNames=["QueueArn"])
    config = s3.get_bucket_notification_configuration(Bucket=stack.settings.input_bucket)
    config.pop("ResponseMetadata")
    config["QueueConfigurations"].append(
        {
            "Id": "someone-else",
            "QueueArn": other_arn["Attributes"]["QueueArn"],
            "Events": ["s3:ObjectRemoved:*"],
        }
    )
    s3.put_bucket_notification_configuration(
        Bucket=stack.settings.input_bucket, NotificationConfiguration=config
    )

    moved = stack.settings.model_copy(update={"watch_prefix": "uploads/"})
    bootstrap(moved)

    rules = s3.get_bucket_notification_configuration(Bucket=stack.settings.input_bucket)
    by_id = {r["Id"]: r for r in rules["QueueConfigurations"]}
    assert set(by_id) == {"someone-else", NOTIFICATION_ID}
    assert by_id[NOTIFICATION_ID]["Filter"]["Key"]["FilterRules"][0]["Value"] == "uploads/"


def test_notification_rules_compare_as_s3_returns_them() -> None:
    ours = {
        "Id": NOTIFICATION_ID,
        "QueueArn": "arn:aws:sqs:us-east-1:1:q",
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}},
    }
    as_returned = {
        **ours,
        "Filter": {"Key": {"FilterRules": [{"Name": "Prefix", "Value": "incoming/"}]}},
    }
    assert same_rule(as_returned, ours)
    moved = {**ours, "Filter": {"Key": {"FilterRules": [{"Name": "Prefix", "Value": "other/"}]}}}
    assert not same_rule(moved, ours)
    assert not same_rule({**ours, "QueueArn": "arn:aws:sqs:us-east-1:1:other"}, ours)

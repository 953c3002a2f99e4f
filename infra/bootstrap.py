"""Create the worker's resources, idempotently, on AWS, LocalStack or moto.

Buckets, the jobs queue with its dead-letter queue and a policy that lets S3 send to it, the
high- and low-priority queues beside it (``core.jobs.priority``; same attributes, same DLQ;
S3 sends to the jobs queue only), the S3 -> SQS ObjectCreated notification on the watched
prefix, the events topic, the jobs table.
Running it twice changes nothing; it never removes a bucket's other notification rules.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from core.errors import InvalidTopic
from infra.aws import client_config, error_code
from infra.settings import Settings
from infra.topic import Arn, EventsTopic

NOTIFICATION_ID = "ffapi-watch"


@dataclass(frozen=True, slots=True)
class Resources:
    input_bucket: str
    output_bucket: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    topic_arn: str
    table: str
    high_queue_url: str = ""  # "" with FFAPI_PRIORITY_QUEUES=false
    low_queue_url: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def bootstrap(settings: Settings) -> Resources:
    topic = EventsTopic.parse(settings.events_topic, settings.region)  # before making anything
    session = boto3.Session(region_name=settings.region)
    s3, sqs, sns, ddb = (
        session.client(name, config=client_config()) for name in ("s3", "sqs", "sns", "dynamodb")
    )
    for bucket in dict.fromkeys((settings.input_bucket, settings.output_bucket)):
        _ensure_bucket(s3, bucket, settings.region)
    dlq_url, dlq_arn = _ensure_queue(
        sqs,
        settings.dead_letter_queue,
        {
            "MessageRetentionPeriod": str(14 * 24 * 3600),
        },
    )
    attributes = {
        "VisibilityTimeout": str(settings.visibility_timeout),
        "ReceiveMessageWaitTimeSeconds": str(settings.wait_time_seconds),
        "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": settings.max_receive_count}
        ),
    }
    queue_url, queue_arn = _ensure_queue(sqs, settings.jobs_queue, attributes)
    lanes = settings.lane_names()
    high_url, low_url = (
        _ensure_queue(sqs, lanes[lane], attributes)[0] if settings.priority_queues else ""
        for lane in ("high", "low")
    )
    _ensure_policy(sqs, queue_url, _s3_may_send(queue_arn, settings.input_bucket))
    _ensure_notification(s3, settings.input_bucket, queue_arn, settings.watch_prefix)
    topic_arn = _ensure_topic(sns, topic, queue_arn)
    _ensure_table(ddb, settings.jobs_table)
    return Resources(
        input_bucket=settings.input_bucket,
        output_bucket=settings.output_bucket,
        queue_url=queue_url,
        queue_arn=queue_arn,
        dlq_url=dlq_url,
        topic_arn=topic_arn,
        table=settings.jobs_table,
        high_queue_url=high_url,
        low_queue_url=low_url,
    )


def _ensure_topic(sns: Any, topic: EventsTopic, queue_arn: str) -> str:
    """Create the topic by its name (CreateTopic takes no ARN) where the queue was made: a
    topic given as an ARN must be in that account, or the workers would publish to a topic
    this never made."""
    if topic.arn is not None:
        _check_same_account(topic.arn, queue_arn)
    made = str(sns.create_topic(Name=topic.name)["TopicArn"])
    if topic.arn is not None and made != str(topic.arn):
        raise InvalidTopic(
            f"FFAPI_EVENTS_TOPIC is {topic.arn}, but SNS made {made}: these "
            "credentials and endpoint answer for another account"
        )
    return made


def _check_same_account(topic: Arn, queue_arn: str) -> None:
    queue = Arn.parse(queue_arn)
    if queue is not None and (queue.partition, queue.account) != (topic.partition, topic.account):
        raise InvalidTopic(
            f"FFAPI_EVENTS_TOPIC is in account {topic.account} ({topic.partition}), but these "
            f"credentials make resources in account {queue.account} ({queue.partition}, the "
            f"jobs queue {queue_arn}): bootstrap with that account's credentials, or give the "
            "topic's name"
        )


def _ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except ClientError as exc:
        if error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


def _ensure_queue(sqs: Any, name: str, attributes: dict[str, str]) -> tuple[str, str]:
    try:
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except ClientError as exc:
        if error_code(exc) not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
        # It exists with other attributes: bring them to what the settings say.
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, arn["QueueArn"]


def _ensure_policy(sqs: Any, queue_url: str, ours: dict[str, Any]) -> None:
    """Put our statement in the queue's policy, keeping everyone else's."""
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"])
    policy = json.loads(attrs.get("Attributes", {}).get("Policy") or '{"Version": "2012-10-17"}')
    statements = policy.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    others = [st for st in statements if st.get("Sid") != ours["Sid"]]
    if ours in statements and len(others) == len(statements) - 1:
        return
    policy["Statement"] = [*others, ours]
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})


def _s3_may_send(queue_arn: str, bucket: str) -> dict[str, Any]:
    return {
        "Sid": "ffapi-s3-notifications",
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}},
    }


def _ensure_notification(s3: Any, bucket: str, queue_arn: str, prefix: str) -> None:
    current = s3.get_bucket_notification_configuration(Bucket=bucket)
    current.pop("ResponseMetadata", None)
    ours = {
        "Id": NOTIFICATION_ID,
        "QueueArn": queue_arn,
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
    }
    existing = current.get("QueueConfigurations", [])
    if any(same_rule(rule, ours) for rule in existing):
        return  # unchanged: rewriting it would make S3 send another s3:TestEvent
    current["QueueConfigurations"] = [q for q in existing if q.get("Id") != NOTIFICATION_ID]
    current["QueueConfigurations"].append(ours)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=current)


def same_rule(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal notification rules, as S3 returns them: AWS and LocalStack answer "Prefix" where
    we wrote "prefix", and may order events differently."""

    def key(rule: dict[str, Any]) -> tuple[Any, ...]:
        filters = rule.get("Filter", {}).get("Key", {}).get("FilterRules", [])
        return (
            rule.get("Id"),
            rule.get("QueueArn"),
            sorted(rule.get("Events", [])),
            sorted((f["Name"].lower(), f["Value"]) for f in filters),
        )

    return key(a) == key(b)


def _ensure_table(ddb: Any, table: str) -> None:
    try:
        ddb.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except ClientError as exc:
        if error_code(exc) != "ResourceInUseException":
            raise
    ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1})
    _ensure_ttl(ddb, table)


def _ensure_ttl(ddb: Any, table: str) -> None:
    """The table deletes a finished job's record once its ``expires_at`` (epoch seconds, set
    FFAPI_JOB_RECORD_DAYS after the job ends: infra/jobstore.py) has passed, as the
    template's table does. Turning it on twice is an error: asked first."""
    described = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if described.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return
    ddb.update_time_to_live(
        TableName=table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )

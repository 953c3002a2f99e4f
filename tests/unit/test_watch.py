"""Watch rules, and the loop they must never form: outputs landing where uploads are watched."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from core.errors import InvalidMessage
from core.jobs.admission import AdmissionPolicy
from core.jobs.intake import normalize
from core.jobs.watch import IntakeConfig, WatchRule, watches_output
from core.models import OutputLocation
from infra.settings import Settings

OUT = OutputLocation(bucket="media", prefix="outputs")
RULE = WatchRule(bucket="media", prefix="incoming/", preset="mp4-720p", output=OUT)


@pytest.mark.parametrize(
    ("bucket", "prefix", "watched"),
    [
        ("media", "outputs", False),  # keys outputs/j-... are not under incoming/
        ("media", "incoming/renditions", True),  # incoming/renditions/j-... are
        ("media", "incoming", True),  # incoming/j-1/video.mp4 starts with "incoming/"
        ("other", "incoming/x", False),  # another bucket is never watched by this rule
        ("media", "", False),  # j-... at the root
    ],
)
def test_outputs_are_watched_only_where_their_keys_would_match(
    bucket: str, prefix: str, watched: bool
) -> None:
    location = OutputLocation(bucket=bucket, prefix=prefix)
    assert watches_output(RULE, location) is watched


def test_a_rule_on_the_whole_bucket_watches_every_output_there() -> None:
    everything = WatchRule(bucket="media", prefix="", preset="mp4-720p", output=OUT)
    assert watches_output(everything, OUT)


def test_a_direct_request_may_not_write_where_uploads_start_jobs() -> None:
    # A deployment whose outputs may go anywhere in the bucket: the loop is still refused.
    anywhere = AdmissionPolicy(frozenset({"media"}), frozenset({"media"}), output_root="")
    config = IntakeConfig(rules=(RULE,), default_output=OUT, policy=anywhere)
    request = {
        "input": {"bucket": "media", "key": "library/a.mp4"},
        "output": {"bucket": "media", "prefix": "incoming/again"},
    }
    with pytest.raises(InvalidMessage) as info:
        normalize(json.dumps(request), config)
    assert info.value.code == "invalid_request"
    assert info.value.retryable is False


def test_settings_refuse_outputs_inside_the_watched_prefix() -> None:
    with pytest.raises(ValidationError, match="start new jobs"):
        Settings(input_bucket="media", output_bucket="media", watch_prefix="", output_prefix="o")
    ok = Settings(input_bucket="media", output_bucket="media", output_prefix="outputs")
    assert ok.output_location == OutputLocation(bucket="media", prefix="outputs")

"""core.jobs.intake.normalize on direct job requests: the fields a request keeps, its own ladder,
its own webhooks (and their bounds), and the defaults a minimal request gets."""

from __future__ import annotations

import json

import pytest

from core.errors import FfapiError
from core.events.cloudevent import EventType
from core.jobs.intake import normalize
from core.jobs.results import resolve_preset
from core.jobs.watch import IntakeConfig
from core.models import OutputLocation
from core.presets import StreamingPreset, builtin_catalog
from tests.unit.sample_bodies import CONFIG, read_event


def test_direct_job_request_keeps_its_own_fields() -> None:
    (request,) = normalize(read_event("job-request.json"), CONFIG).requests
    assert request.version == 1
    assert request.preset == "mp4-480p"
    assert request.output == OutputLocation(bucket="ffapi-output", prefix="outputs/renditions")
    assert request.correlation_id == "order-4711"
    assert request.metadata == {"tenant": "acme"}


def test_a_request_may_bring_its_own_ladder() -> None:
    (request,) = normalize(read_event("job-request-ladder.json"), CONFIG).requests
    preset = resolve_preset(builtin_catalog(), request)
    assert isinstance(preset, StreamingPreset)
    assert [r.short_side for r in preset.ladder] == [720, 540, 270]
    assert preset.segment_seconds == 4  # everything else is the named preset's
    assert request.correlation_id == "course-101"


def test_a_request_may_name_its_own_webhooks() -> None:
    (request,) = normalize(read_event("job-request-webhooks.json"), CONFIG).requests
    only_final, everything = request.webhooks
    assert only_final.url == "https://hooks.example.com/ffapi"
    assert [only_final.wants(t) for t in EventType] == [False, False, False, True, True, False]
    assert everything.events is None
    assert all(everything.wants(t) for t in EventType)


@pytest.mark.parametrize(
    "hooks",
    [
        [{"url": "ftp://hooks.example.com/x"}],  # http(s) only
        [{"url": "https://hooks.example.com/a b"}],  # no whitespace
        [{"url": "https://hooks.example.com/" + "a" * 2048}],
        [{"url": f"https://h{i}.example.com/"} for i in range(5)],  # at most 4
        [{"url": "https://hooks.example.com/", "events": ["ffapi.job.exploded"]}],
        [{"url": "https://hooks.example.com/", "events": []}],
        [{"url": "https://hooks.example.com/", "secret": "whsec_abc"}],  # secrets never travel
    ],
)
def test_webhook_targets_are_bounded(hooks: list[dict[str, object]]) -> None:
    body = json.loads(read_event("job-request-minimal.json"))
    with pytest.raises(FfapiError) as info:
        normalize(json.dumps({**body, "webhooks": hooks}), CONFIG)
    assert info.value.code == "invalid_request"


def test_minimal_job_request_gets_the_default_output_and_preset() -> None:
    default = OutputLocation(bucket="ffapi-output", prefix="defaults")
    config = IntakeConfig(rules=CONFIG.rules, default_output=default)
    (request,) = normalize(read_event("job-request-minimal.json"), config).requests
    assert request.preset is None  # the catalog's default, chosen when the job is resolved
    assert resolve_preset(builtin_catalog(), request).name == builtin_catalog().default == "web-hls"
    assert request.output == default
    assert request.correlation_id is None
    assert request.metadata == {}

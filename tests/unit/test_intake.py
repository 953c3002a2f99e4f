"""core.jobs.intake.normalize against every sample body in events/ (`EXPECTED`: the request, the
ignore or the refusal each one gives), the same bodies as bytes and inside the Lambda sample."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pytest

from core.errors import InvalidMessage
from core.jobs.intake import Intake, normalize
from core.jobs.results import resolve_preset
from core.models import OutputLocation
from core.presets import StepsPreset, builtin_catalog
from tests.unit.sample_bodies import CONFIG, EVENTS, OUTPUTS, load_event, read_event, rejected


@dataclass(frozen=True)
class Job:
    """One expected JobRequest."""

    key: str
    bucket: str = "ffapi-input"
    preset: str | None = "mp4-720p"
    output: OutputLocation | None = OUTPUTS
    etag: str | None = None
    version_id: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class Jobs:
    jobs: tuple[Job, ...]


@dataclass(frozen=True)
class Ignored:
    """No job; `count` reasons, each mentioning the matching fragment."""

    count: int
    mentions: tuple[str, ...]


@dataclass(frozen=True)
class Rejected:
    code: str


@dataclass(frozen=True)
class Unresolvable:
    """A valid message whose request names no usable preset: refused when it is resolved."""

    code: str


@dataclass(frozen=True)
class Steps:
    """One version 2 request listing its own steps (these ops, in order): it resolves to a
    steps preset whose encode presets are pinned; the objects it names are in the input's
    bucket unless they name their own."""

    key: str
    ops: tuple[str, ...]
    prefix: str
    encodes: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()


@dataclass(frozen=True)
class RefusedFor:
    """Refused for good, the reason naming where (the step and the field)."""

    code: str
    mentions: tuple[str, ...]


@dataclass(frozen=True)
class Cancel:
    """No job: a cancel request naming this one (or, with ``chunk``, a chunk of it to run:
    core.jobs.chunks)."""

    job_id: str
    chunk: int | None = None


MP4 = ("mp4-480p",)
Expectation = Jobs | Ignored | Rejected | Unresolvable | Steps | RefusedFor | Cancel
EXPECTED: dict[str, Expectation] = {
    "invalid-forbidden-bucket.json": Rejected("forbidden_bucket"),
    "invalid-key-traversal.json": Rejected("invalid_key"),
    "invalid-output-prefix.json": Rejected("forbidden_prefix"),
    "s3-put.json": Jobs(
        (
            Job(
                key="incoming/My Clip+1.mp4",
                etag="9b2cf535f27731c974343645a3985328",
                size=7340032,
            ),
        )
    ),
    "s3-put-moto-encoded.json": Jobs(
        (
            Job(
                key="incoming/clip.mov",
                etag="b1946ac92492d2347c6235b4d2611184",
                size=1048576,
            ),
        )
    ),
    "s3-multipart.json": Jobs(
        (
            Job(
                key="incoming/lecture-2024-05-14.mp4",
                etag="e1f2a3b4c5d6e7f8091a2b3c4d5e6f70-3",
                version_id="3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
                size=157286400,
            ),
        )
    ),
    "s3-two-records.json": Jobs(
        (
            Job(
                key="incoming/batch/first.mp4",
                etag="5d41402abc4b2a76b9719d911017c592",
                size=2097152,
            ),
            Job(
                key="incoming/batch/second take.mov",
                etag="7d793037a0760186574b0282f2f435e7",
                size=3145728,
            ),
        )
    ),
    "s3-test-event.json": Ignored(1, ("s3:TestEvent",)),
    "s3-delete.json": Ignored(1, ("ObjectRemoved:Delete",)),
    "s3-outside-prefix.json": Ignored(1, ("uploads/other.mp4",)),
    "s3-folder-marker.json": Ignored(1, ("incoming/sub/",)),
    "sns-s3-put.json": Jobs(
        (
            Job(
                key="incoming/from-sns.mp4",
                etag="92eb5ffee6ae2fec3ad71c777531578f",
                size=4194304,
            ),
        )
    ),
    "eventbridge-object-created.json": Jobs(
        (
            Job(
                key="incoming/from-eventbridge.mp4",
                etag="b1946ac92492d2347c6235b4d2611184",
                version_id="IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
                size=5242880,
            ),
        )
    ),
    "job-request-ladder.json": Jobs((Job(key="library/lecture.mov", preset="web-hls"),)),
    "job-request-scheduled.json": Jobs((Job(key="library/keynote.mp4", preset="web-hls"),)),
    "job-request-progressive.json": Jobs((Job(key="library/keynote.mp4", preset="web-hls"),)),
    "invalid-deadline-before-not-before.json": Rejected("invalid_request"),
    # Its input stands in its parent's folder until the parent's result names the object.
    "job-request-after.json": Jobs(
        (
            Job(
                key="outputs/j-3f9a1c07d2e84b6a95c1e0f7/pending",
                bucket="ffapi-output",
                preset="web-hls",
            ),
        )
    ),
    "job-request.json": Jobs(
        (
            Job(
                key="library/talk.mp4",
                preset="mp4-480p",
                output=OutputLocation(bucket="ffapi-output", prefix="outputs/renditions"),
            ),
        )
    ),
    "job-request-minimal.json": Jobs((Job(key="library/minimal.mp4", preset=None),)),
    "job-request-webhooks.json": Jobs((Job(key="library/talk.mp4", preset="web-hls"),)),
    "job-request-destinations.json": Jobs(
        (
            Job(
                key="library/talk.mp4",
                preset="web-hls",
                output=OutputLocation(bucket="ffapi-output", prefix="outputs/web"),
            ),
        )
    ),
    "invalid-bad-json.json": Rejected("malformed_json"),
    "invalid-unknown-field.json": Rejected("invalid_request"),
    "invalid-missing-key.json": Rejected("invalid_request"),
    "invalid-preset.json": Unresolvable("invalid_request"),
    "invalid-unrecognized.json": Rejected("unrecognized_message"),
    "invalid-not-object.json": Rejected("unrecognized_message"),
    "job-request-steps.json": Steps(
        "library/talk.mp4",
        ("trim", "overlay", "encode", "frames", "preview", "scenes"),
        "outputs/talk",
        ("mp4-480p",),
        ("brand/logo.png",),
    ),
    "job-request-steps-trim.json": Steps(
        "library/talk.mp4", ("trim", "encode"), "outputs/trim", MP4
    ),
    "job-request-steps-trim-keyframe.json": Steps(
        "library/talk.mp4", ("trim", "encode"), "outputs/trim-keyframe", MP4
    ),
    "job-request-steps-concat.json": Steps(
        "library/talk.mp4",
        ("concat", "encode"),
        "outputs/concat",
        MP4,
        ("library/outro.mp4", "library/credits.mov"),
    ),
    "job-request-steps-crop.json": Steps(
        "library/talk.mp4", ("crop", "encode"), "outputs/crop", ("mp4-720p",)
    ),
    "job-request-steps-scale.json": Steps(
        "library/talk.mp4", ("scale", "encode"), "outputs/scale", MP4
    ),
    "job-request-steps-rotate.json": Steps(
        "library/talk.mp4", ("rotate", "encode"), "outputs/rotate", MP4
    ),
    "job-request-steps-flip.json": Steps(
        "library/talk.mp4", ("flip", "encode"), "outputs/flip", MP4
    ),
    "job-request-steps-fps.json": Steps("library/talk.mp4", ("fps", "encode"), "outputs/fps", MP4),
    "job-request-steps-speed.json": Steps(
        "library/talk.mp4", ("speed", "encode"), "outputs/speed", MP4
    ),
    "job-request-steps-loudness.json": Steps(
        "library/talk.mp4", ("loudness", "encode"), "outputs/loudness", MP4
    ),
    "job-request-steps-overlay.json": Steps(
        "library/talk.mp4", ("overlay", "encode"), "outputs/overlay", MP4, ("brand/logo.png",)
    ),
    "job-request-steps-text.json": Steps(
        "library/talk.mp4", ("text", "encode"), "outputs/text", MP4
    ),
    "job-request-steps-subtitles.json": Steps(
        "library/talk.mp4",
        ("subtitles", "subtitles", "encode"),
        "outputs/subtitles",
        ("web-hls",),
        ("subs/talk.en.srt", "subs/talk.fr.vtt"),
    ),
    "job-request-steps-encode.json": Steps(
        "library/talk.mp4", ("encode",), "outputs/encode", ("web-hls",)
    ),
    "job-request-steps-frames.json": Steps(
        "library/talk.mp4", ("frames", "frames"), "outputs/frames"
    ),
    "job-request-steps-preview.json": Steps(
        "library/talk.mp4", ("preview", "preview"), "outputs/preview"
    ),
    "job-request-steps-scenes.json": Steps("library/talk.mp4", ("scenes",), "outputs/scenes"),
    "job-request-steps-audio.json": Steps(
        "library/talk.mp4", ("trim", "audio", "audio"), "outputs/audio"
    ),
    "job-request-steps-replace-audio.json": Steps(
        "library/talk.mp4",
        ("replace_audio", "encode"),
        "outputs/replace-audio",
        ("mp4-720p",),
        ("music/bed.mp3",),
    ),
    "job-request-steps-mix.json": Steps(
        "library/talk.mp4",
        ("mix", "encode", "audio"),
        "outputs/mix",
        ("mp4-720p",),
        ("music/bed.mp3", "sfx/chime.wav"),
    ),
    "job-request-steps-quality.json": Steps(
        "library/talk.mp4",
        ("encode", "encode", "quality"),
        "outputs/quality",
        ("mp4-720p", "web-hls"),
    ),
    "invalid-steps-end-before-start.json": RefusedFor(
        "invalid_request", ("steps[0] (trim)", "end")
    ),
    "invalid-steps-speed.json": RefusedFor("invalid_request", ("steps[0] (speed).factor",)),
    "invalid-steps-loudness.json": RefusedFor(
        "invalid_request", ("steps[0] (loudness).target_lufs",)
    ),
    "invalid-steps-fps.json": RefusedFor("invalid_request", ("steps[0] (fps).fps",)),
    "invalid-steps-frames-count.json": RefusedFor("invalid_request", ("steps[0] (frames).count",)),
    "invalid-steps-unknown-field.json": RefusedFor(
        "invalid_request", ("steps[0] (overlay): unexpected field",)
    ),
    "invalid-steps-caption-length.json": RefusedFor(
        "invalid_request", ("steps[0] (text).text", "2000")
    ),
    "invalid-steps-preset-and-steps.json": RefusedFor("invalid_request", ("preset or steps",)),
    "invalid-steps-version-1.json": RefusedFor("invalid_request", ("steps need version 2",)),
    "invalid-steps-transform-after-output.json": RefusedFor(
        "invalid_request", ("steps[1] (crop)", "before every output")
    ),
    "invalid-steps-no-output.json": RefusedFor(
        "invalid_request", ("steps", "at least one output step")
    ),
    "cancel-request.json": Cancel("j-4f2a9c1e8b7d6a5f3e2d1c0b"),
    "chunk-request.json": Cancel("j-4f2a9c1e8b7d6a5f3e2d1c0b", chunk=3),
    "job-request-split.json": Jobs((Job(key="library/film.mov", preset="web-hls"),)),
    "invalid-cancel-job-id.json": Rejected("invalid_request"),
}


def test_every_sample_has_an_expectation() -> None:
    on_disk = {p.name for p in EVENTS.glob("*.json")}
    assert set(EXPECTED) == on_disk


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample(name: str) -> None:
    body = read_event(name)
    expected = EXPECTED[name]
    if isinstance(expected, Steps | RefusedFor):
        check_steps_sample(body, expected)
        return
    if isinstance(expected, Rejected):
        assert rejected(body).code == expected.code
        return
    intake = normalize(body, CONFIG)
    if isinstance(expected, Cancel):
        assert (intake.requests, intake.ignored) == ((), ())
        named: list[tuple[str, int | None]] = [(c.parent, c.index) for c in intake.chunks]
        named += [(c.job_id, None) for c in intake.cancels]
        assert named == [(expected.job_id, expected.chunk)]
        return
    if isinstance(expected, Unresolvable):
        (request,) = intake.requests
        with pytest.raises(InvalidMessage) as info:
            resolve_preset(builtin_catalog(), request)
        assert info.value.code == expected.code
        return
    if isinstance(expected, Ignored):
        assert intake.requests == ()
        assert len(intake.ignored) == expected.count
        for reason, fragment in zip(intake.ignored, expected.mentions, strict=True):
            assert fragment in reason
        return
    assert intake.ignored == ()
    got = [
        Job(
            key=r.input.key,
            bucket=r.input.bucket,
            preset=r.preset,
            output=r.output,
            etag=r.input.etag,
            version_id=r.input.version_id,
            size=r.input.size,
        )
        for r in intake.requests
    ]
    assert got == list(expected.jobs)


def test_bytes_body_is_read_like_text() -> None:
    body = read_event("s3-put.json")
    assert normalize(body.encode(), CONFIG) == normalize(body, CONFIG)


def test_lambda_sqs_batch_carries_the_s3_put_sample() -> None:
    event = json.loads((EVENTS / "lambda" / "sqs-batch.json").read_text(encoding="utf-8"))
    (record,) = event["Records"]
    assert record["eventSource"] == "aws:sqs"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()
    assert json.loads(record["body"]) == load_event("s3-put.json")
    expected: Intake = normalize(read_event("s3-put.json"), CONFIG)
    assert normalize(record["body"], CONFIG) == expected


def check_steps_sample(body: str, expected: Steps | RefusedFor) -> None:
    if isinstance(expected, RefusedFor):
        refusal = rejected(body)
        assert refusal.code == expected.code
        for fragment in expected.mentions:
            assert fragment in str(refusal)
        return
    (request,) = normalize(body, CONFIG).requests
    assert (request.version, request.preset, request.input.key) == (2, None, expected.key)
    assert request.output == OutputLocation(bucket="ffapi-output", prefix=expected.prefix)
    assert tuple(s.op for s in request.steps or ()) == expected.ops
    assert tuple(ref.key for _, ref in request.step_objects()) == expected.objects
    assert {ref.bucket for _, ref in request.step_objects()} <= {"ffapi-input"}
    spec = resolve_preset(builtin_catalog(), request)
    assert isinstance(spec, StepsPreset)
    assert tuple(sorted(spec.encodes)) == expected.encodes


def test_the_issue_example_takes_the_overlay_bucket_from_the_input() -> None:
    doc = load_event("job-request-steps.json")
    assert "bucket" not in doc["steps"][1]["image"]
    (request,) = normalize(json.dumps(doc), CONFIG).requests
    ((where, ref),) = request.step_objects()
    assert (where, ref.bucket, ref.key) == ("steps[1].image", "ffapi-input", "brand/logo.png")


def test_every_operation_has_a_sample() -> None:
    ops = {
        "trim",
        "concat",
        "crop",
        "scale",
        "rotate",
        "flip",
        "fps",
        "speed",
        "overlay",
        "text",
        "encode",
        "frames",
        "preview",
        "scenes",
        "quality",
    }
    for op in ops:
        expected = EXPECTED[f"job-request-steps-{op}.json"]
        assert isinstance(expected, Steps)
        assert op in expected.ops

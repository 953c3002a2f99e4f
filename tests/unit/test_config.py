"""The configuration document: presets and watch rules parsed into one WorkerConfig, and every
kind of broken document refused whole, naming the line or the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.jobs.admission import AdmissionPolicy
from core.jobs.config import ConfigBase, ConfigError, WorkerConfig, parse_config
from core.jobs.intake import normalize
from core.jobs.watch import IntakeConfig, WatchRule
from core.models import OutputLocation
from core.presets import Mp4Preset, builtin_catalog

OUT = OutputLocation(bucket="ffapi-output", prefix="outputs")
POLICY = AdmissionPolicy(
    input_buckets=frozenset({"ffapi-input"}),
    output_buckets=frozenset({"ffapi-output"}),
    output_root="outputs",
)
SETTINGS_RULE = WatchRule(bucket="ffapi-input", prefix="incoming/", preset=None, output=OUT)
BASE = ConfigBase(
    builtin_catalog(),
    IntakeConfig(rules=(SETTINGS_RULE,), default_output=OUT, policy=POLICY),
    "ffapi-input",
)

GOOD = """
default = "mp4-720p"

[presets.phone-mp4]
kind = "mp4"
max_height = 360

[[watch]]
prefix = "incoming/phone/"
suffixes = [".mp4", ".MOV"]
preset = "phone-mp4"
output_prefix = "outputs/phone"

[[watch]]
bucket = "partner-uploads"
prefix = "drop/"
preset = "web-hls"
output_bucket = "partner-output"
"""


def s3_put(bucket: str, key: str) -> str:
    record = {"eventName": "ObjectCreated:Put", "eventSource": "aws:s3", "awsRegion": "us-east-1"}
    s3 = {"bucket": {"name": bucket}, "object": {"key": key, "size": 10, "eTag": "abc"}}
    return json.dumps({"Records": [{**record, "s3": s3}]})


def refusal(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, BASE)
    return str(caught.value)


def test_a_document_becomes_the_catalog_and_the_rules_in_force() -> None:
    config = parse_config(GOOD, BASE, version="etag-1")
    assert config.version == "etag-1"
    assert config.catalog.default == "mp4-720p"
    phone = config.catalog.get("phone-mp4")
    assert isinstance(phone, Mp4Preset)
    assert phone.max_height == 360
    assert config.catalog.get("web-hls") is not None  # read over the shipped catalog
    first, second = config.intake.rules
    assert (first.bucket, first.prefix, first.suffixes) == (
        "ffapi-input",
        "incoming/phone/",
        (".mp4", ".MOV"),
    )
    assert first.output == OutputLocation(bucket="ffapi-output", prefix="outputs/phone")
    assert second.output == OutputLocation(bucket="partner-output", prefix="outputs")
    # The admission policy follows the rules: their buckets are admitted.
    assert "partner-uploads" in config.intake.admission.input_buckets
    assert "partner-output" in config.intake.admission.output_buckets


def test_uploads_follow_the_rules_by_prefix_and_suffix() -> None:
    intake = parse_config(GOOD, BASE).intake
    (phone,) = normalize(s3_put("ffapi-input", "incoming/phone/a.mov"), intake).requests
    assert phone.preset == "phone-mp4"
    assert phone.output is not None
    assert phone.output.prefix == "outputs/phone"
    (partner,) = normalize(s3_put("partner-uploads", "drop/b.mkv"), intake).requests
    assert partner.preset == "web-hls"
    # Not the suffix, not the prefix: no job (the settings' own rule is replaced).
    assert normalize(s3_put("ffapi-input", "incoming/phone/a.txt"), intake).requests == ()
    assert normalize(s3_put("ffapi-input", "incoming/x.mp4"), intake).requests == ()


def test_a_document_without_rules_keeps_the_settings_rule() -> None:
    config = parse_config('[presets.mp4-720p]\nkind = "mp4"\nmax_height = 540\n', BASE)
    assert config.intake == BASE.intake
    preset = config.catalog.get("mp4-720p")
    assert isinstance(preset, Mp4Preset)
    assert preset.max_height == 540
    assert config == WorkerConfig(config.catalog, BASE.intake, "")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[[watch]\nprefix = 1", "line 1"),  # not TOML: the line is named
        ('default = "mp4-720p"\n\n[presets.x]\nkind = "mp4"\nmax_height = 2\n', "presets.x"),
        ('[presets.web]\nkind = "mp4"\nfps = "fast"\n', "presets.web.mp4.fps"),
        ('default = "nothing"\n', "default preset 'nothing' is not defined"),
        ('[[watch]]\nprefix = "a/"\npreset = "missing"\n', "watch[0].preset 'missing'"),
        ('[[watch]]\nprefix = "a/"\n\n[[watch]]\nprefx = "b/"\n', "watch[1].prefix"),
        ('[[watch]]\nprefix = "a/"\nsuffixes = ["a/b"]\n', "watch[0].suffixes[0]"),
        ('[[watch]]\nprefix = "a/"\nbucket = "Bad_Bucket"\n', "watch[0].bucket"),
        ('[[watch]]\nprefix = "../x"\n', "watch[0].prefix has a '.' or '..' segment"),
        ('[[watch]]\nprefix = "a/"\noutput_prefix = "elsewhere"\n', "watch[0].output_prefix"),
        ('[watches]\nprefix = "a/"\n', "watches: Extra inputs are not permitted"),
    ],
)
def test_a_broken_document_is_refused_naming_what_is_wrong(text: str, named: str) -> None:
    assert named in refusal(text)


def test_a_rule_that_watches_another_rules_output_is_refused() -> None:
    text = """
[[watch]]
prefix = "incoming/"
output_bucket = "ffapi-input"
output_prefix = "outputs/a"

[[watch]]
prefix = "outputs/"
"""
    assert "which watch[1] watches" in refusal(text)
    base = ConfigBase(BASE.catalog, BASE.intake, "ffapi-output")  # rules watch the output bucket
    with pytest.raises(ConfigError, match=r"watch\[0\] writes to .* which watch\[1\] watches"):
        parse_config('[[watch]]\nprefix = "in/"\n\n[[watch]]\nprefix = "outputs/"\n', base)
    with pytest.raises(ConfigError, match=r"the default output .* watch\[0\] watches"):
        parse_config('[[watch]]\nprefix = ""\noutput_bucket = "partner-output"\n', base)


def test_the_readmes_example_is_a_valid_document() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    example = readme.split("## Live configuration", 1)[1].split("```toml\n", 1)[1]
    config = parse_config(example.split("```", 1)[0], BASE)
    assert [rule.preset for rule in config.intake.rules] == ["phone-mp4", "web-hls"]


def test_a_rule_that_watches_the_submit_prefix_is_refused() -> None:
    base = ConfigBase(BASE.catalog, BASE.intake, "ffapi-input", submit_prefix="submitted/")
    for prefix in ("", "submitted/", "submitted/batch/"):
        with pytest.raises(ConfigError, match=r"watch\[0\] watches 'submitted/'"):
            parse_config(f'[[watch]]\nprefix = "{prefix}"\n', base)
    parse_config('[[watch]]\nprefix = "submissions/"\n', base)  # a sibling is no loop
    other = '[[watch]]\nbucket = "partner-uploads"\nprefix = "submitted/"\n'
    parse_config(other, base)  # another bucket's


def test_a_rule_keeps_its_packages_and_uploads_as_long_as_it_says() -> None:
    text = GOOD.replace(
        'output_prefix = "outputs/phone"',
        'output_prefix = "outputs/phone"\noutput_retention_days = 30\ninput_retention_days = 7',
    )
    phone, partner = parse_config(text, BASE).intake.rules
    assert (phone.output_retention_days, phone.input_retention_days) == (30, 7)
    assert (partner.output_retention_days, partner.input_retention_days) == (None, None)
    broken = GOOD.replace('preset = "web-hls"', 'preset = "web-hls"\noutput_retention_days = 0')
    assert "watch[1].output_retention_days" in refusal(broken)

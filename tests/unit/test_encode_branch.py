"""core.encode_branch: the MP4 and ladder encoders as branches of a steps job's pass, and the
v1 argv of plan_mp4 / plan_streaming, byte for byte as before the encoders were shared."""

from __future__ import annotations

import json

import pytest

from tests.unit.encode_golden import FIXTURE, all_argvs

GOLDEN: dict[str, list[str]] = json.loads(FIXTURE.read_text())


def test_the_golden_cases_are_all_recorded() -> None:
    assert sorted(all_argvs()) == sorted(GOLDEN)


@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_v1_argv_is_unchanged(case: str) -> None:
    assert all_argvs()[case] == GOLDEN[case]

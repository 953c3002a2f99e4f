"""``ffapi cancel``'s answer for each thing the store did, and its refusal of an id that no
worker could have made (before anything is written or sent)."""

from __future__ import annotations

import pytest

from core.ports import CancelAnswer
from handlers import cli
from handlers.cancel import answer_line

JOB = "j-4f2a9c1e8b7d6a5f3e2d1c0b"


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (CancelAnswer("cancelled", None, 0), "cancelled  j-4f2a9c1e8b7d6a5f3e2d1c0b (not started"),
        (CancelAnswer("cancelled", "RETRYING", 1), "(waiting to retry: it will not run)"),
        (CancelAnswer("requested", "RUNNING", 1), "cancelling j-4f2a9c1e8b7d6a5f3e2d1c0b (running"),
        (
            CancelAnswer("finished", "CANCELLED", 1),
            "cancelled  j-4f2a9c1e8b7d6a5f3e2d1c0b (already)",
        ),
        (CancelAnswer("finished", "COMPLETED", 1), "had already completed: it stays so"),
        (CancelAnswer("finished", "FAILED", 2), "had already failed: it stays so"),
    ],
)
def test_the_answer_says_what_the_store_did(answer: CancelAnswer, said: str) -> None:
    assert said in answer_line(JOB, answer)


@pytest.mark.parametrize("job_id", ["bogus", "j-../../etc", JOB.upper(), JOB + "0"])
def test_an_id_no_worker_makes_is_refused_as_a_usage_error(
    job_id: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # AWS itself: never reached
    assert cli.main(["cancel", job_id]) == 2  # before any AWS call: none is reachable here
    assert "is not a job id" in capsys.readouterr().err

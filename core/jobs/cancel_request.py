"""The cancel request: ``{"version": 2, "cancel": {"job_id": "j-..."}}`` on the jobs queue.

A message of this shape asks for no job: it names one to stop (:mod:`core.jobs.cancel` says
what stopping means in each state). The id must be one the worker derives (``j-`` and 24 hex
digits), so a stray or hostile body cannot write records under names of its own choosing.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from core.jobs.results import JOB_ID_PREFIX

JobId = Annotated[str, StringConstraints(pattern=rf"^{JOB_ID_PREFIX}[0-9a-f]{{24}}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class CancelTarget(_Strict):
    job_id: JobId


class CancelRequest(_Strict):
    """Cancel one job, in whatever state it is (queued, retrying, running); a finished job
    stays as it ended."""

    version: Literal[2]
    cancel: CancelTarget

    @property
    def job_id(self) -> str:
        return self.cancel.job_id


def is_cancel(doc: dict[str, Any]) -> bool:
    """Whether a message body is a cancel request (to be parsed as one, strictly)."""
    return "cancel" in doc

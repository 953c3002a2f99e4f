"""A package that became playable while it encodes (``progressive``): what the attempt tells
its reporter, which announces it as ``ffapi.job.playable`` (:mod:`core.events.reporting`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from core.models import OutputLocation

# ``job.failed``'s ``package`` (and its error's ``details.package``) of a job that failed after
# it was announced playable: its package was published in part.
PARTIAL = "partial"


class PlayableNotice(BaseModel):
    """Every rung's first segment and init are in the bucket, behind growing manifests."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    output: OutputLocation
    playback: dict[str, str] = Field(description="hls / dash -> the manifest's object key")
    seconds: float = Field(ge=0, description="since the attempt started")

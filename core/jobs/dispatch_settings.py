"""What a dispatcher is set up with: the intake and presets (or the live configuration),
the lease, the stall and busy waits, the schedule's lead and the segment ledger's pace."""

from __future__ import annotations

from dataclasses import dataclass

from core.attempt.ledger_keeper import DEFAULT_INTERVAL
from core.jobs.config import WorkerConfig
from core.jobs.config_reload import ConfigInForce
from core.jobs.schedule import DEFAULT_LEAD
from core.jobs.watch import IntakeConfig
from core.presets import PresetCatalog


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    intake: IntakeConfig
    presets: PresetCatalog
    lease_seconds: float
    max_receive_count: int  # the queue's redrive threshold: the last delivery announces failure
    # A job quiet this long (core/jobs/pulse.py) stops renewing its lease, so another worker can
    # take it over. None: always renew (no pulse is kept, as in Lambda, timed out by AWS).
    stall_seconds: float | None = None
    # At most this long a delivery waits out the lease of its own message's earlier delivery
    # (core.jobs.lease_wait) rather than go back BUSY; 0: never (Lambda: no heartbeat runs).
    busy_wait_seconds: float = 0.0
    # The live configuration (core.jobs.config_reload); None: ``intake`` and ``presets``.
    config: ConfigInForce | None = None

    def in_force(self) -> WorkerConfig:
        return self.config.current if self.config else WorkerConfig(self.presets, self.intake)

    # A message due within this (+1 s) is held until its not_before (core.jobs.schedule).
    schedule_lead: float = DEFAULT_LEAD
    ledger_seconds: float = DEFAULT_INTERVAL  # between segment ledger writes, at least

"""An outbox's figures, as a session ends with them (:meth:`~.outbox.Outbox.stats`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """This process's view: submitted here, committed (acknowledged), delivered, dead-lettered,
    refused because the spool was full; ``pending`` and ``oldest_age_s`` are the spool's (plus
    unspooled writes not yet delivered)."""

    submitted: int
    spooled: int
    delivered: int
    dead: int
    refused: int
    pending: int
    oldest_age_s: float | None
    #: Writes the spool could not take (a full or failing disk, an unusable spool), delivered
    #: directly from memory instead: never acknowledged. ``lost``: those neither spooled nor
    #: delivered (no backend, or the outbox closed first).
    unspooled: int = 0
    lost: int = 0

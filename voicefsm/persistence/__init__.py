"""Durable, non-blocking persistence: the outbox, its spool and its relay."""

from voicefsm.persistence.outbox import Outbox, OutboxStats
from voicefsm.persistence.relay import RelayPolicy
from voicefsm.persistence.spool import SpoolStatus

__all__ = ["Outbox", "OutboxStats", "RelayPolicy", "SpoolStatus"]

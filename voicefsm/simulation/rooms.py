"""Simulated rooms: a room kept as a LiveKit server would keep it, and its participants' events.

A metadata update replaces the room's metadata (the next session dispatched to that room reads
it), and hanging up deletes the room. ``simulate`` hands each job the room of its name; pass the
same :class:`SimulatedRooms` to several runs and a room outlives its sessions, as on a server.

Each job gets its own :class:`SimulatedRoom`: the session's room control and the source of its
participant events (``participant_connected``, ``participant_disconnected``,
``participant_metadata_changed``, ``participant_attributes_changed``, with livekit's
arguments), which a test or a scenario drives with :meth:`SimulatedRoom.join` and friends.
livekit's mock room cannot serve: it is one cached mock for the whole process, and handlers
registered on it never fire.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field

from livekit import rtc

#: livekit's ``ParticipantKind`` values.
STANDARD, SIP, AGENT = 0, 3, 4


@dataclass
class SimulatedParticipant:
    """The part of ``rtc.RemoteParticipant`` voicefsm reads; ``sid`` names this connection (a
    participant who connects again is a new one, with the same identity)."""

    identity: str
    metadata: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    kind: int = STANDARD
    sid: str = field(default_factory=lambda: f"PA_{uuid.uuid4().hex[:12]}")


@dataclass
class SimulatedRooms:
    """Every simulated room by name: its metadata, and whether it was deleted."""

    metadata: dict[str, str] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def room(self, name: str) -> SimulatedRoom:
        return SimulatedRoom(name, self)

    def read(self, name: str) -> str | None:
        with self._lock:
            return self.metadata.get(name)

    def write(self, name: str, metadata: str) -> None:
        with self._lock:
            self.metadata[name] = metadata

    def delete(self, name: str) -> None:
        with self._lock:
            self.deleted.append(name)
            self.metadata.pop(name, None)


class SimulatedRoom(rtc.EventEmitter[str]):
    """One job's room: its control (:class:`voicefsm.engine.room_control.RoomControl`) and its
    participants (:class:`voicefsm.engine.participants.RoomEvents`). Drive it from the
    session's own event loop, as livekit emits room events there."""

    def __init__(self, name: str, rooms: SimulatedRooms) -> None:
        super().__init__()
        self.name = name
        self.rooms = rooms
        self.remote_participants: dict[str, SimulatedParticipant] = {}

    @property
    def available(self) -> bool:
        return True

    async def delete_room(self) -> bool:
        self.rooms.delete(self.name)
        return True

    async def update_metadata(self, metadata: str) -> bool:
        self.rooms.write(self.name, metadata)
        return True

    # -- what participants do -------------------------------------------------------------------

    def join(self, participant: SimulatedParticipant) -> None:
        """``participant`` connects. An identity already here is a duplicate-identity reconnect:
        as livekit's SDK orders it, the old connection's disconnect comes first."""
        old = self.remote_participants.get(participant.identity)
        if old is not None and old.sid != participant.sid:
            self.leave(old.identity)
        self.remote_participants[participant.identity] = participant
        self.emit("participant_connected", participant)

    def rejoin_before_the_drop(self, participant: SimulatedParticipant) -> SimulatedParticipant:
        """``participant`` connects again while its old connection is still here, whose
        disconnect comes later (:meth:`drop`): the order a transport may deliver them in.
        Returns the old connection."""
        old = self.remote_participants[participant.identity]
        self.remote_participants[participant.identity] = participant
        self.emit("participant_connected", participant)
        return old

    def drop(self, connection: SimulatedParticipant) -> None:
        """The disconnect of ``connection`` (one :meth:`rejoin_before_the_drop` replaced)."""
        if self.remote_participants.get(connection.identity) is connection:
            del self.remote_participants[connection.identity]
        self.emit("participant_disconnected", connection)

    def leave(self, identity: str) -> None:
        participant = self.remote_participants.pop(identity)
        self.emit("participant_disconnected", participant)

    def set_metadata(self, identity: str, metadata: str) -> None:
        participant = self.remote_participants[identity]
        old, participant.metadata = participant.metadata, metadata
        self.emit("participant_metadata_changed", participant, old, metadata)

    def set_attributes(self, identity: str, changed: dict[str, str]) -> None:
        participant = self.remote_participants[identity]
        participant.attributes.update(changed)
        self.emit("participant_attributes_changed", changed, participant)

"""Simulated rooms: what a session changes in its room, kept as a LiveKit server would keep it.

A metadata update replaces the room's metadata (the next session dispatched to that room reads
it), and hanging up deletes the room. ``simulate`` hands each job the room of its name; pass the
same :class:`SimulatedRooms` to several runs and a room outlives its sessions, as on a server.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


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


@dataclass(frozen=True)
class SimulatedRoom:
    """One job's room control (:class:`voicefsm.runtime.room.RoomControl`)."""

    name: str
    rooms: SimulatedRooms

    @property
    def available(self) -> bool:
        return True

    async def delete_room(self) -> bool:
        self.rooms.delete(self.name)
        return True

    async def update_metadata(self, metadata: str) -> bool:
        self.rooms.write(self.name, metadata)
        return True

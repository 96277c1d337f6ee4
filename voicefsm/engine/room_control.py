"""What a call may change in its room: hang up (delete the room) and write its metadata.

The engine only knows this interface; the worker gives it LiveKit's server API
(:class:`voicefsm.worker.room_service.LiveKitRoom`), the simulator a simulated room, and a text
session :class:`NoRoom`.
"""

from __future__ import annotations

from typing import Protocol


class RoomControl(Protocol):
    """What a session may change in its room (the LiveKit server API, or a simulated room)."""

    @property
    def available(self) -> bool:
        """False when nothing can be changed (no credentials, no room)."""

    async def delete_room(self) -> bool:
        """Hang up: the room and everyone in it are gone. True if it was done."""

    async def update_metadata(self, metadata: str) -> bool:
        """Set the room's metadata (the whole JSON text). True if it was done."""


class NoRoom:
    """No room to change (a text session, a test)."""

    available = False

    async def delete_room(self) -> bool:
        return False

    async def update_metadata(self, metadata: str) -> bool:
        return False

"""The room, through LiveKit's server API (RoomService over Twirp): what the agent changes in it.

A finished call hangs up (``DeleteRoom``: a phone caller is disconnected, not left in silence),
and a conversation started in a room that names none is written into the room's metadata
(``UpdateRoomMetadata``, the other keys kept) so that a restarted or re-dispatched agent
continues it. Both need ``LIVEKIT_URL``, ``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET``; each
call is bounded, and a failure is logged and counted, never raised into the call.
"""

from __future__ import annotations

import asyncio

from livekit import api
from pydantic import SecretStr

from voicefsm.logs import Log

ROOM_API_DEADLINE_S = 3.0


class LiveKitRoom:
    """One LiveKit room's server-side controls. ``credentials`` ``None``: nothing changes."""

    def __init__(
        self,
        room_name: str,
        credentials: tuple[str, SecretStr, SecretStr] | None,
        *,
        log: Log,
    ) -> None:
        self.room_name = room_name
        self._credentials = credentials
        self._log = log
        self.failures = 0

    def __repr__(self) -> str:
        url = self._credentials[0] if self._credentials else None
        return f"LiveKitRoom(room_name={self.room_name!r}, url={url!r})"

    @property
    def available(self) -> bool:
        return self._credentials is not None and bool(self.room_name)

    def _api(self) -> api.LiveKitAPI:
        assert self._credentials is not None  # noqa: S101 (checked by available)
        url, key, secret = self._credentials
        return api.LiveKitAPI(
            url, key.get_secret_value(), secret.get_secret_value(), failover=False
        )

    async def delete_room(self) -> bool:
        """Hang up: the room and everyone in it are gone. True if LiveKit confirmed."""
        return await self._call("delete_room", api.DeleteRoomRequest(room=self.room_name))

    async def update_metadata(self, metadata: str) -> bool:
        """Set the room's metadata (the whole JSON text). True if LiveKit confirmed."""
        request = api.UpdateRoomMetadataRequest(room=self.room_name, metadata=metadata)
        return await self._call("update_room_metadata", request)

    async def _call(self, method: str, request: object) -> bool:
        if not self.available:
            return False
        client = self._api()
        try:
            async with asyncio.timeout(ROOM_API_DEADLINE_S):
                await getattr(client.room, method)(request)
        except Exception as exc:
            self.failures += 1
            self._log.warning(
                "LiveKit room API call failed",
                extra={"call": method, "error_type": type(exc).__name__},
            )
            return False
        finally:
            await client.aclose()
        return True

"""Creating the LiveKit room for a conversation, through LiveKit's server API (RoomService)."""

from __future__ import annotations

from typing import Protocol

from livekit import api
from pydantic import SecretStr


class RoomCreator(Protocol):
    async def create_room(self, name: str, metadata: str) -> None:
        """Create (or keep, if it exists) the room ``name`` carrying ``metadata``."""

    async def aclose(self) -> None: ...


class LiveKitRooms:
    """RoomCreator over ``livekit-api``. Region failover is off: we talk to the URL we are given."""

    def __init__(self, url: str, api_key: SecretStr, api_secret: SecretStr) -> None:
        self._url = url
        self._key = api_key
        self._secret = api_secret
        self._api: api.LiveKitAPI | None = None

    def __repr__(self) -> str:
        return f"LiveKitRooms(url={self._url!r})"

    async def create_room(self, name: str, metadata: str) -> None:
        if self._api is None:  # needs a running loop (it opens an aiohttp session)
            self._api = api.LiveKitAPI(
                self._url,
                self._key.get_secret_value(),
                self._secret.get_secret_value(),
                failover=False,
            )
        await self._api.room.create_room(api.CreateRoomRequest(name=name, metadata=metadata))

    async def aclose(self) -> None:
        if self._api is not None:
            await self._api.aclose()
            self._api = None

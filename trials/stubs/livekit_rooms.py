"""A protocol-level stub of LiveKit's RoomService (Twirp over HTTP, protobuf bodies) on 127.0.0.1.

It checks what a real server checks: the bearer JWT is signed with the API secret and carries
the grant the method needs (``roomCreate`` to create or delete a room, ``roomAdmin`` for the
room named to update its metadata). It keeps the rooms' metadata and records every call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web
from livekit import api
from livekit.protocol import models, room

from trials.stubs.threaded import serve_app

API_KEY = "APIstubkey"
API_SECRET = "stub-secret-that-is-long-enough-for-hs256-0123456789"
SERVICE = "/twirp/livekit.RoomService/"
PATH = SERVICE + "CreateRoom"


@dataclass
class RoomServiceStub:
    url: str = ""
    created: list[tuple[str, str]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    #: Each room's metadata as last set (created with, or updated to).
    metadata: dict[str, str] = field(default_factory=dict)
    fail_next: int = 0  # answer this many requests with 500 first

    def _refusal(self, request: web.Request, *, room_admin: str | None) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        try:
            claims = api.TokenVerifier(API_KEY, API_SECRET).verify(header.removeprefix("Bearer "))
        except Exception:
            return web.json_response({"code": "unauthenticated"}, status=401)
        grants = claims.video
        allowed = (
            bool(grants and grants.room_create)
            if room_admin is None
            else bool(grants and grants.room_admin and grants.room == room_admin)
        )
        if not allowed:
            return web.json_response({"code": "permission_denied"}, status=403)
        if request.content_type != "application/protobuf":
            return web.json_response({"code": "malformed"}, status=415)
        if self.fail_next:
            self.fail_next -= 1
            return web.json_response({"code": "internal"}, status=500)
        return None

    async def create_room(self, request: web.Request) -> web.Response:
        body = await request.read()
        refused = self._refusal(request, room_admin=None)
        if refused is not None:
            return refused
        create = room.CreateRoomRequest.FromString(body)
        self.created.append((create.name, create.metadata))
        self.metadata[create.name] = create.metadata
        reply = models.Room(sid="RM_stub", name=create.name, metadata=create.metadata)
        return web.Response(body=reply.SerializeToString(), content_type="application/protobuf")

    async def delete_room(self, request: web.Request) -> web.Response:
        body = await request.read()
        refused = self._refusal(request, room_admin=None)
        if refused is not None:
            return refused
        delete = room.DeleteRoomRequest.FromString(body)
        self.deleted.append(delete.room)
        self.metadata.pop(delete.room, None)
        reply = room.DeleteRoomResponse()
        return web.Response(body=reply.SerializeToString(), content_type="application/protobuf")

    async def update_room_metadata(self, request: web.Request) -> web.Response:
        body = await request.read()
        update = room.UpdateRoomMetadataRequest.FromString(body)
        refused = self._refusal(request, room_admin=update.room)
        if refused is not None:
            return refused
        self.metadata[update.room] = update.metadata
        reply = models.Room(sid="RM_stub", name=update.room, metadata=update.metadata)
        return web.Response(body=reply.SerializeToString(), content_type="application/protobuf")


@contextmanager
def room_service_stub() -> Iterator[RoomServiceStub]:
    stub = RoomServiceStub()
    app = web.Application()
    app.router.add_post(PATH, stub.create_room)
    app.router.add_post(SERVICE + "DeleteRoom", stub.delete_room)
    app.router.add_post(SERVICE + "UpdateRoomMetadata", stub.update_room_metadata)
    with serve_app(app) as url:
        stub.url = url
        yield stub

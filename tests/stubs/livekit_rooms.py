"""A protocol-level stub of LiveKit's RoomService (Twirp over HTTP, protobuf bodies) on 127.0.0.1.

It checks what a real server checks for CreateRoom: the bearer JWT is signed with the API secret
and grants ``roomCreate``. It records the rooms it was asked to create.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web
from livekit import api
from livekit.protocol import models, room

from tests.stubs.threaded import serve_app

API_KEY = "APIstubkey"
API_SECRET = "stub-secret-that-is-long-enough-for-hs256-0123456789"
PATH = "/twirp/livekit.RoomService/CreateRoom"


@dataclass
class RoomServiceStub:
    url: str = ""
    created: list[tuple[str, str]] = field(default_factory=list)
    fail_next: int = 0  # answer this many requests with 500 first

    async def create_room(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        try:
            claims = api.TokenVerifier(API_KEY, API_SECRET).verify(header.removeprefix("Bearer "))
        except Exception:
            return web.json_response({"code": "unauthenticated"}, status=401)
        if not (claims.video and claims.video.room_create):
            return web.json_response({"code": "permission_denied"}, status=403)
        if request.content_type != "application/protobuf":
            return web.json_response({"code": "malformed"}, status=415)
        if self.fail_next:
            self.fail_next -= 1
            return web.json_response({"code": "internal"}, status=500)
        create = room.CreateRoomRequest.FromString(await request.read())
        self.created.append((create.name, create.metadata))
        reply = models.Room(sid="RM_stub", name=create.name, metadata=create.metadata)
        return web.Response(body=reply.SerializeToString(), content_type="application/protobuf")


@contextmanager
def room_service_stub() -> Iterator[RoomServiceStub]:
    stub = RoomServiceStub()
    app = web.Application()
    app.router.add_post(PATH, stub.create_room)
    with serve_app(app) as url:
        stub.url = url
        yield stub

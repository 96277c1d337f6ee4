"""The reference backend: a real service implementing contract v1 (``voicefsm backend``)."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from sqlalchemy.exc import TimeoutError as PoolTimeout

from voicefsm.backend.flow_state import FlowStates
from voicefsm.backend.models import (
    API_PREFIX,
    CallerConversationRequest,
    CallerConversationResponse,
    ContextRequest,
    ContextResponse,
    CreateRoomRequest,
    CreateRoomResponse,
    EventBatch,
    EventBatchResult,
    Health,
    MessagesResponse,
    Problem,
    SessionStored,
    SessionSummary,
)
from voicefsm.backend.server.admission import Admission, unavailable
from voicefsm.backend.server.callers import CallerKeys, Callers
from voicefsm.backend.server.db import build_engine, create_schema
from voicefsm.backend.server.limits import BodyLimit, ServerLimits
from voicefsm.backend.server.livekit_rooms import RoomCreator
from voicefsm.backend.server.store import KeyConflict, MetadataTooLarge, Store
from voicefsm.backend.stored import (
    MAX_EVENTS_PAGE,
    ConversationSessions,
    EventsPage,
    SessionOverview,
    StoredEvent,
)
from voicefsm.untrusted import Id

_LOG = logging.getLogger("voicefsm.backend")
MAX_BODY_BYTES = 2 * 1024 * 1024
_bearer = HTTPBearer(auto_error=False, description="Required when VOICEFSM_BACKEND_TOKEN is set")
#: Refusals every API path may answer besides validation errors (422), documented so that
#: clients and contract tests know them.
_REFUSALS: dict[int | str, dict[str, object]] = {
    400: {"model": Problem, "description": "The body is not JSON (or not UTF-8)"},
    401: {"model": Problem, "description": "Missing or wrong bearer token"},
    408: {"model": Problem, "description": "The body did not arrive in time"},
    413: {"model": Problem, "description": "The body is larger than the server accepts"},
    503: {
        "model": Problem,
        "description": "The server is saturated; retry after the `Retry-After` header's seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
    },
}


class _AsciiJSON(JSONResponse):
    """JSON escaped to ASCII: a refusal may quote client strings (a dict key, say) that are not
    valid Unicode, and rendering those must not turn a 422 into a 500."""

    def render(self, content: object) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode()


def _validation_problems(exc: RequestValidationError) -> list[dict[str, object]]:
    """FastAPI's error list without the rejected input: it may be megabytes, or a secret."""
    return [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type")}
        for error in exc.errors()
    ]


def _unprocessable(location: list[str], message: str, kind: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors, as the contract documents every 422."""
    return HTTPException(422, [{"loc": location, "msg": message, "type": kind}])


def _authorisation(token: SecretStr | None) -> Callable[..., Awaitable[None]]:
    async def authorised(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        if token is None:
            return
        given = credentials.credentials.encode() if credentials else b""
        if not secrets.compare_digest(given, token.get_secret_value().encode()):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or wrong bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return authorised


def _api(
    store: Store, rooms: RoomCreator | None, token: SecretStr | None, callers: Callers | None
) -> APIRouter:
    api = APIRouter(
        prefix=API_PREFIX, dependencies=[Depends(_authorisation(token))], responses=_REFUSALS
    )

    @api.post(
        "/rooms",
        status_code=201,
        responses={
            200: {"model": CreateRoomResponse, "description": "The room's existing conversation"},
            502: {"model": Problem, "description": "LiveKit did not create the room"},
        },
    )
    async def create_room(body: CreateRoomRequest, response: Response) -> CreateRoomResponse:
        """Create the conversation for a room (once), and the LiveKit room when configured."""
        try:
            room = await store.create_room(body.name, dict(body.metadata))
        except MetadataTooLarge:
            raise _unprocessable(
                ["body", "metadata"], "room metadata would exceed the worker's limit", "too_large"
            ) from None
        if not room.created:
            response.status_code = 200
        if rooms is not None:
            try:
                await rooms.create_room(room.name, room.metadata)
            except Exception as exc:
                _LOG.warning("livekit room not created", extra={"error_type": type(exc).__name__})
                raise HTTPException(502, "LiveKit did not create the room; retry") from None
        return CreateRoomResponse(
            room_name=room.name,
            conversation_id=room.conversation_id,
            room_metadata=room.metadata,
            created=room.created,
            livekit_room_created=rooms is not None,
        )

    @api.post(
        "/callers/conversation",
        status_code=201,
        responses={
            200: {"model": CallerConversationResponse, "description": "An existing one"},
            503: {"model": Problem, "description": "Returning callers are not configured"},
        },
    )
    async def caller_conversation(
        body: CallerConversationRequest, response: Response
    ) -> CallerConversationResponse:
        """The conversation of a returning caller (a phone number, a user id): created once per
        caller, so a caller who rings again, in any room, resumes their history. A live call
        holds it (``session_id``, renewed by asking again within ``lease_s``); another live call
        of the same caller gets a conversation of its own meanwhile (``held``: false)."""
        if callers is None:
            raise HTTPException(
                503, "returning callers are off: VOICEFSM_BACKEND_CALLER_KEY_SECRET is not set"
            )
        found = await callers.conversation(
            body.key, session_id=body.session_id, lease_s=body.lease_s
        )
        if not found.created:
            response.status_code = status.HTTP_200_OK
        return CallerConversationResponse(
            conversation_id=found.conversation_id, created=found.created, held=found.held
        )

    @api.get("/conversations/{conversation_id}/messages")
    async def recent_messages(
        conversation_id: Id, limit: Annotated[int, Query(ge=1, le=200)] = 20
    ) -> MessagesResponse:
        """The conversation's most recent messages, oldest first."""
        messages = await store.recent_messages(conversation_id, limit)
        return MessagesResponse(conversation_id=conversation_id, messages=messages)

    @api.post("/conversations/{conversation_id}/events")
    async def append_events(conversation_id: Id, body: EventBatch) -> EventBatchResult:
        """Apply each event once by its idempotency key; a replay changes nothing."""
        accepted, duplicates = await store.append_events(conversation_id, body.events)
        return EventBatchResult(accepted=accepted, duplicates=duplicates)

    @api.get("/conversations/{conversation_id}/events")
    async def stored_events(
        conversation_id: Id,
        after: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_EVENTS_PAGE)] = 200,
    ) -> EventsPage:
        """The conversation's events in the order they were applied, a page at a time (none
        for a conversation the backend does not know)."""
        rows = await store.events_after(conversation_id, after, limit)
        return EventsPage(
            conversation_id=conversation_id,
            events=[StoredEvent(seq=row.id, kind=row.kind, payload=row.payload) for row in rows],  # type: ignore[arg-type]
            next_after=rows[-1].id if len(rows) == limit else None,
        )

    @api.get("/conversations/{conversation_id}/flows")
    async def flow_states(conversation_id: Id) -> FlowStates:
        """The latest state of each flow of the conversation (its node, data and path), as
        the session's ``flow_state`` events wrote it: what a call that comes back resumes."""
        states = await store.flow_states(conversation_id)
        return FlowStates(conversation_id=conversation_id, flows=states)  # type: ignore[arg-type]

    @api.get("/conversations/{conversation_id}/sessions")
    async def conversation_sessions(conversation_id: Id) -> ConversationSessions:
        """The conversation's sessions (from their summaries), oldest first."""
        metadata, summaries = await store.sessions_of(conversation_id)
        return ConversationSessions(
            conversation_id=conversation_id,
            room_metadata=metadata,
            sessions=[SessionOverview.model_validate(summary) for summary in summaries],
        )

    @api.post("/conversations/{conversation_id}/context")
    async def context(conversation_id: Id, body: ContextRequest) -> ContextResponse:
        """Context to enrich a user message with."""
        return ContextResponse(snippets=await store.context_for(conversation_id, body.text))

    @api.put(
        "/sessions/{session_id}",
        responses={201: {"model": SessionStored, "description": "The first summary stored"}},
    )
    async def put_session(
        session_id: Id, body: SessionSummary, response: Response
    ) -> SessionStored:
        """Store the final summary of a session (replaces an earlier one)."""
        if body.session_id != session_id:
            raise _unprocessable(
                ["body", "session_id"], "session_id in the path and the body differ", "mismatch"
            )
        created = await store.put_session(body)
        response.status_code = 201 if created else 200
        return SessionStored(session_id=session_id, created=created)

    return api


def create_app(
    database_url: str,
    *,
    token: SecretStr | None = None,
    rooms: RoomCreator | None = None,
    limits: ServerLimits | None = None,
    caller_secret: SecretStr | None = None,
) -> FastAPI:
    """The ASGI app. The schema is created on start; ``rooms`` creates LiveKit rooms if given;
    returning callers are served with ``caller_secret`` (their keys' digests' key) only."""
    limits = limits or ServerLimits.defaults()
    engine = build_engine(
        database_url, pool_size=limits.pool_size, pool_timeout_s=limits.queue_wait_s
    )
    store = Store(engine)
    callers = Callers(store, CallerKeys(caller_secret)) if caller_secret is not None else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await create_schema(engine)
        try:
            yield
        finally:
            if rooms is not None:
                await rooms.aclose()
            await engine.dispose()

    app = FastAPI(
        title="voicefsm backend",
        version="1",
        summary="Reference implementation of the voicefsm backend contract v1.",
        lifespan=lifespan,
    )

    # The last added runs first: a body is read whole before it may take one of the API's
    # turns, so a slow sender holds a connection, never a turn or a database connection.
    app.add_middleware(
        Admission, prefix=API_PREFIX, slots=limits.max_requests, wait_s=limits.queue_wait_s
    )
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES, timeout_s=limits.body_timeout_s)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _AsciiJSON({"detail": _validation_problems(exc)}, status_code=422)

    @app.exception_handler(KeyConflict)
    async def key_conflict(_: Request, exc: KeyConflict) -> JSONResponse:
        problem = {
            "loc": ["body", "events"],
            "msg": "idempotency key reused with a different payload",
            "type": "idempotency_key_reused",
        }
        return JSONResponse({"detail": [problem], "keys": exc.keys}, status_code=422)

    @app.exception_handler(PoolTimeout)
    async def pool_exhausted(_: Request, __: PoolTimeout) -> JSONResponse:
        _LOG.warning("backend database pool exhausted; request answered 503")
        return unavailable("the backend's database is busy; retry")

    @app.get("/healthz")
    async def healthz() -> Health:
        return Health(status="ok", version=version("voicefsm"))

    app.include_router(_api(store, rooms, token, callers))
    app.state.store = store
    return app

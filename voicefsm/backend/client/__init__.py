"""The client voicefsm uses to talk to the user's backend (contract v1), over an injected
``httpx.AsyncClient``.

Reads sit on the way into a turn, so they run under a hard deadline (httpx's read timeout is per
chunk, so a slow-drip answer needs an overall one) and degrade: ``None`` or ``[]``, logged, never
raised. Writes are for the outbox relay and raise :class:`~voicefsm.errors.BackendUnavailable`
(retry later) or :class:`~voicefsm.errors.BackendRejected` (retrying will not help). What a
status means, the token, TLS and a backend's destination are :mod:`.transport`'s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TypeVar

import httpx
from pydantic import JsonValue, SecretStr, ValidationError

from voicefsm.backend.client.transport import (
    MAX_RETRY_AFTER_S,
    REFUSALS,
    RETRYABLE,
    BearerToken,
    backend_destination,
    backend_http,
    raise_for_status,
    retry_after_seconds,
    shared_tls_context,
    shown_url,
)
from voicefsm.backend.flow_state import FlowStates
from voicefsm.backend.models import (
    API_PREFIX,
    CallerConversationRequest,
    CallerConversationResponse,
    ContextRequest,
    ContextResponse,
    CreateRoomRequest,
    CreateRoomResponse,
    EventBatchResult,
    Message,
    MessagesResponse,
    SessionStored,
)
from voicefsm.backend.stored import ConversationSessions, EventsPage
from voicefsm.errors import BackendError, BackendUnavailable

__all__ = [
    "MAX_RETRY_AFTER_S",
    "REFUSALS",
    "RETRYABLE",
    "BackendClient",
    "BearerToken",
    "backend_destination",
    "backend_http",
    "raise_for_status",
    "retry_after_seconds",
    "shared_tls_context",
    "shown_url",
]

_LOG = logging.getLogger("voicefsm.backend.client")


class BackendClient:
    """Typed calls to the backend. ``http`` carries the base URL and transport; we add auth."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        token: SecretStr | None = None,
        read_deadline_s: float = 0.5,
        write_timeout_s: float = 5.0,
    ) -> None:
        self._http = http
        #: Which backend this is (:func:`backend_destination`): its spooled writes are bound
        #: for it, and its relays deliver only those.
        self.destination = backend_destination(http.base_url)
        self._auth = BearerToken(token) if token is not None else None
        self._read_deadline = read_deadline_s
        self._write_timeout = httpx.Timeout(write_timeout_s)

    def __repr__(self) -> str:
        return f"BackendClient(base_url={str(self._http.base_url)!r})"

    async def _send(
        self, method: str, path: str, *, timeout: httpx.Timeout, **kwargs: object
    ) -> httpx.Response:
        try:
            response = await self._http.request(
                method,
                API_PREFIX + path,
                auth=self._auth or httpx.USE_CLIENT_DEFAULT,
                timeout=timeout,
                **kwargs,  # type: ignore[arg-type]
            )
        except httpx.HTTPError as exc:
            url = shown_url(self._http.base_url).rstrip("/") + API_PREFIX + path
            msg = f"backend unreachable ({type(exc).__name__})"
            raise BackendUnavailable(msg, url=url) from exc
        raise_for_status(response)
        return response

    # -- reads: under a deadline, degrading -------------------------------------------------

    async def recent_messages(self, conversation_id: str, limit: int = 20) -> list[Message] | None:
        """The conversation's last messages, oldest first; ``None`` if the backend failed us."""
        try:
            async with asyncio.timeout(self._read_deadline):
                response = await self._send(
                    "GET",
                    f"/conversations/{conversation_id}/messages",
                    params={"limit": limit},
                    timeout=httpx.Timeout(self._read_deadline),
                )
                return MessagesResponse.model_validate_json(response.content).messages
        except (TimeoutError, BackendError, ValidationError) as exc:
            _degraded("recent_messages", exc)
            return None

    async def flow_states(self, conversation_id: str) -> list[dict[str, JsonValue]] | None:
        """The latest state of each flow of the conversation (what a resumed call restores);
        ``None`` if the backend failed us."""
        try:
            async with asyncio.timeout(self._read_deadline):
                response = await self._send(
                    "GET",
                    f"/conversations/{conversation_id}/flows",
                    timeout=httpx.Timeout(self._read_deadline),
                )
                return FlowStates.model_validate_json(response.content).flows
        except (TimeoutError, BackendError, ValidationError) as exc:
            _degraded("flow_states", exc)
            return None

    async def context_for(
        self, conversation_id: str, text: str, *, session_id: str | None = None
    ) -> list[str]:
        """Snippets to enrich a user turn with; ``[]`` if the backend failed us in time."""
        try:
            body = ContextRequest(text=text[:20_000] or " ", session_id=session_id)
            async with asyncio.timeout(self._read_deadline):
                response = await self._send(
                    "POST",
                    f"/conversations/{conversation_id}/context",
                    content=body.model_dump_json(),
                    headers={"content-type": "application/json"},
                    timeout=httpx.Timeout(self._read_deadline),
                )
                return ContextResponse.model_validate_json(response.content).snippets
        except (TimeoutError, BackendError, ValidationError) as exc:
            _degraded("context_for", exc)
            return []

    # -- whole calls, read back (``voicefsm scenario export``): raising ----------------------

    async def stored_events(
        self, conversation_id: str, *, after: int = 0, limit: int = 500
    ) -> EventsPage:
        """One page of the conversation's stored events (``BackendError`` on failure; a 404:
        no such conversation)."""
        response = await self._send(
            "GET",
            f"/conversations/{conversation_id}/events",
            params={"after": after, "limit": limit},
            timeout=self._write_timeout,
        )
        return _parse(EventsPage, response)

    async def conversation_sessions(self, conversation_id: str) -> ConversationSessions:
        response = await self._send(
            "GET", f"/conversations/{conversation_id}/sessions", timeout=self._write_timeout
        )
        return _parse(ConversationSessions, response)

    # -- writes: raising, for the relay ------------------------------------------------------

    async def post_event_batch(
        self, conversation_id: str, events_json: Sequence[str]
    ) -> EventBatchResult:
        """POST already-serialised events (each a JSON object) as one batch."""
        body = '{"events":[' + ",".join(events_json) + "]}"
        response = await self._send(
            "POST",
            f"/conversations/{conversation_id}/events",
            content=body.encode(),
            headers={"content-type": "application/json"},
            timeout=self._write_timeout,
        )
        return _parse(EventBatchResult, response)

    async def put_session_json(self, session_id: str, summary_json: str) -> SessionStored:
        response = await self._send(
            "PUT",
            f"/sessions/{session_id}",
            content=summary_json.encode(),
            headers={"content-type": "application/json"},
            timeout=self._write_timeout,
        )
        return _parse(SessionStored, response)

    async def create_room(
        self, name: str, agent: dict[str, object] | None = None
    ) -> CreateRoomResponse:
        body = CreateRoomRequest(name=name, metadata=agent or {})  # type: ignore[arg-type]
        response = await self._send(
            "POST",
            "/rooms",
            content=body.model_dump_json(),
            headers={"content-type": "application/json"},
            timeout=self._write_timeout,
        )
        return _parse(CreateRoomResponse, response)

    async def caller_conversation(
        self, key: str, *, session_id: str | None = None, lease_s: float = 60.0
    ) -> CallerConversationResponse:
        """A returning caller's conversation (``key``: a phone number, a user id), held by
        ``session_id`` for ``lease_s`` (asking again renews the hold)."""
        body = CallerConversationRequest(key=key, session_id=session_id, lease_s=lease_s)
        response = await self._send(
            "POST",
            "/callers/conversation",
            content=body.model_dump_json(),
            headers={"content-type": "application/json"},
            timeout=self._write_timeout,
        )
        return _parse(CallerConversationResponse, response)


Reply = TypeVar(
    "Reply",
    EventBatchResult,
    SessionStored,
    CreateRoomResponse,
    CallerConversationResponse,
    EventsPage,
    ConversationSessions,
)


def _parse(model: type[Reply], response: httpx.Response) -> Reply:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        # A 2xx we cannot read: the write may have been applied; retrying is safe (idempotent).
        msg = f"backend answered {response.status_code} with an unreadable body"
        raise BackendUnavailable(msg, status=response.status_code) from exc


def _degraded(call: str, exc: BaseException) -> None:
    _LOG.warning("backend read degraded", extra={"call": call, "error_type": type(exc).__name__})

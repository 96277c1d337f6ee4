"""Returning callers: one conversation per caller, keyed by a keyed digest, held by one live
call at a time.

**The key.** A caller is their phone number or user id. Only ``HMAC-SHA256(secret, key)`` is
stored, with the secret from ``VOICEFSM_BACKEND_CALLER_KEY_SECRET``: a bare SHA-256 of a phone
number is reversed by hashing every number of a country (about 10^10 of them) in an afternoon;
the keyed digest cannot be without the secret, which lives outside the database. Callers stored
by earlier versions under a bare SHA-256 are moved to the keyed digest the next time they call
(the bare digest is gone from the database then); a caller who never calls again keeps the old
form, since a bare digest cannot be re-keyed without the number it hides.

**The hold.** A live call holds its caller's conversation for a lease it renews while it lives;
the session's summary ends the hold, and a call that crashed loses it when the lease runs out,
so the caller's next call resumes the conversation either way. A second call of the same caller
while the first is live gets a conversation of its own, linked to the caller's (its room
metadata names it), so two live calls never interleave in one history.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voicefsm.backend.server.db import CallerLeaseRow, ConversationRow
from voicefsm.backend.server.store import Store

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CallerConversation:
    conversation_id: str
    created: bool
    held: bool


class CallerKeys:
    """Digests of caller keys under a secret; the secret never leaves (its repr hides it)."""

    def __init__(self, secret: SecretStr) -> None:
        self._secret = secret

    def __repr__(self) -> str:
        return "CallerKeys(secret=**********)"

    def name(self, key: str) -> str:
        """The stored name of ``key``'s conversation."""
        secret = self._secret.get_secret_value().encode()
        return "caller:" + hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()


def legacy_name(key: str) -> str:
    """How earlier versions stored a caller: a bare SHA-256 (reversible by a dictionary)."""
    return "caller:" + hashlib.sha256(key.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


class Callers:
    """The returning callers' conversations in ``store``'s database."""

    def __init__(self, store: Store, keys: CallerKeys) -> None:
        self._store = store
        self._keys = keys

    async def conversation(
        self, key: str, *, session_id: str | None, lease_s: float
    ) -> CallerConversation:
        name = self._keys.name(key)
        async with self._store.writing() as db:
            conversation_id, created = await self._own(db, name, key)
            if session_id is None:
                return CallerConversation(conversation_id, created, held=True)
            if await self._take(db, name, session_id, lease_s):
                return CallerConversation(conversation_id, created, held=True)
            side_id, side_created = await self._side(db, name, session_id, conversation_id)
            return CallerConversation(side_id, side_created, held=False)

    async def _own(self, db: AsyncSession, name: str, key: str) -> tuple[str, bool]:
        """The caller's conversation: theirs, a legacy one moved to the keyed name, or new."""
        query = select(ConversationRow).where(ConversationRow.room_name == name)
        row = (await db.execute(query)).scalar_one_or_none()
        if row is not None:
            return row.id, False
        legacy = select(ConversationRow).where(ConversationRow.room_name == legacy_name(key))
        old = (await db.execute(legacy.with_for_update())).scalar_one_or_none()
        if old is not None:
            old.room_name = name  # the bare digest leaves the database
            return old.id, False
        new_id = f"c_{uuid.uuid4().hex}"
        insert = self._store.insert_ignoring(ConversationRow, on="room_name")
        await db.execute(insert.values(id=new_id, room_name=name, created_at=_now()))
        stored = (await db.execute(query)).scalar_one()
        return stored.id, stored.id == new_id

    async def _take(self, db: AsyncSession, name: str, session_id: str, lease_s: float) -> bool:
        """Hold (or renew) the caller's conversation for ``session_id``; False when another
        live call holds it."""
        insert = self._store.insert_ignoring(CallerLeaseRow, on="caller")
        await db.execute(insert.values(caller=name, session_id="", expires_at=_EPOCH))
        query = select(CallerLeaseRow).where(CallerLeaseRow.caller == name).with_for_update()
        lease = (await db.execute(query)).scalar_one()
        now = _now()
        if lease.session_id not in ("", session_id) and lease.expires_at > now:
            return False
        lease.session_id, lease.expires_at = session_id, now + timedelta(seconds=lease_s)
        return True

    async def _side(
        self, db: AsyncSession, name: str, session_id: str, linked: str
    ) -> tuple[str, bool]:
        """This call's own conversation, linked to the caller's (the same one on a retry)."""
        side = "call:" + hashlib.sha256(f"{name}|{session_id}".encode()).hexdigest()
        new_id = f"c_{uuid.uuid4().hex}"
        metadata = json.dumps({"linked_caller_conversation": linked}, separators=(",", ":"))
        insert = self._store.insert_ignoring(ConversationRow, on="room_name")
        await db.execute(
            insert.values(id=new_id, room_name=side, room_metadata=metadata, created_at=_now())
        )
        query = select(ConversationRow.id).where(ConversationRow.room_name == side)
        stored = (await db.execute(query)).scalar_one()
        return stored, stored == new_id

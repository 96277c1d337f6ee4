"""The reference backend's schema (SQLAlchemy 2) and engine: SQLite by default, or PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from sqlalchemy import JSON, DateTime, Dialect, Index, Integer, String, Text, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


class UtcDateTime(TypeDecorator[datetime]):
    """An instant, stored in UTC and read back in UTC on every database.

    SQLite has no zone-aware type: it keeps the wall time and drops the offset, so
    10:00+09:00 came back as 10:00Z (nine hours wrong) and sorted after 02:00Z. Converting on
    the way in makes the stored text comparable; on PostgreSQL (timestamptz) both are no-ops.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # naive means UTC here, as everywhere in voicefsm
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {datetime: UtcDateTime()}


class ConversationRow(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    room_name: Mapped[str | None] = mapped_column(String(128), unique=True)
    room_metadata: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_conversation_kind_at", "conversation_id", "kind", "at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    payload_hash: Mapped[str] = mapped_column(String(64))
    conversation_id: Mapped[str] = mapped_column(String(128))
    session_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    # Messages are the hot read (recent history), so their fields are columns, not JSON.
    role: Mapped[str | None] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]


class CallerLeaseRow(Base):
    """Which live call holds a returning caller's conversation, until when (a table of its
    own, so that an existing database gains it on start)."""

    __tablename__ = "caller_leases"

    caller: Mapped[str] = mapped_column(String(128), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime]


class FlowStateRow(Base):
    """The latest state of each flow of a conversation (the highest step written), for a call
    that resumes (a table of its own, so that an existing database gains it on start)."""

    __tablename__ = "flow_states"

    conversation_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    flow: Mapped[str] = mapped_column(String(64), primary_key=True)
    step: Mapped[int] = mapped_column(Integer)
    #: When the kept state was written (of two with the same step, the later is kept).
    at: Mapped[datetime]
    state: Mapped[dict[str, object]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class SessionRow(Base):
    __tablename__ = "sessions"

    session_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(128), index=True)
    summary: Mapped[dict[str, object]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


def async_url(database_url: str) -> URL:
    """Accept plain ``sqlite:///…`` / ``postgresql://…`` and pick the async driver for it."""
    url = make_url(database_url)
    driver = ASYNC_DRIVERS.get(url.get_backend_name())
    if driver is None:
        msg = f"unsupported database {url.get_backend_name()!r}: use sqlite or postgresql"
        raise ValueError(msg)
    return url.set(drivername=driver) if "+" not in url.drivername else url


def build_engine(
    database_url: str, *, pool_size: int | None = None, pool_timeout_s: float = 30.0
) -> AsyncEngine:
    """An engine holding at most ``pool_size`` connections (SQLAlchemy's default pool when
    None); a checkout waits ``pool_timeout_s``, then ``sqlalchemy.exc.TimeoutError``, which the
    app answers 503."""
    url = async_url(database_url)
    pool: dict[str, object] = {}
    in_memory = url.database in (None, "", ":memory:")  # one connection, no pool to size
    if pool_size is not None and not in_memory:
        # No overflow: the size is the limit, so that it can be planned against the server's.
        pool = {"pool_size": pool_size, "max_overflow": 0, "pool_timeout": pool_timeout_s}
    engine = create_async_engine(url, pool_pre_ping=url.get_backend_name() == "postgresql", **pool)
    if url.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: object, _record: object) -> None:
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


async def create_schema(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)

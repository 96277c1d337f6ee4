"""What a spool holds, counted: pending and dead rows and the oldest pending row's true age, over
the whole spool or over the rows one backend delivers.

A relay delivers only the rows bound for its own backend, and unbound ones (spooled before rows
were bound, or by an outbox without a backend: whichever drain comes first delivers them). Its
figures count the same rows: a spool shared with a backend that is down holds rows no relay of
ours will ever deliver, and a drain or a closing flush that counted them would wait out its
deadline and report a failure that is not its own.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from voicefsm.persistence import spool_clock


@dataclass(frozen=True, slots=True)
class SpoolStatus:
    pending: int
    dead: int
    oldest_age_s: float | None


def delivered_by(destination: str | None) -> tuple[str, list[object]]:
    """The SQL condition (to ``AND``) and its parameters for the rows a relay of
    ``destination`` delivers; ``None``: every row."""
    if destination is None:
        return "", []
    return " AND (destination = ? OR destination IS NULL)", [destination]


def columns(db: sqlite3.Connection) -> set[str]:
    return {row[1] for row in db.execute("PRAGMA table_info(outbox)")}


def count_pending(db: sqlite3.Connection, destination: str | None = None) -> int:
    """Rows not yet delivered (nor dead) that ``destination`` delivers: an index read."""
    condition, parameters = delivered_by(destination)
    query = "SELECT COUNT(*) FROM outbox WHERE dead = 0" + condition  # noqa: S608 (placeholders)
    (count,) = db.execute(query, parameters).fetchone()
    return int(count)


def _age_expression(db: sqlite3.Connection) -> tuple[str, list[object]]:
    """A row's true age: by the boot clock for rows written this boot (a wall-clock step
    changes nothing), else by the wall clock."""
    now, boot_now, boot = time.time(), spool_clock.boot_now(), spool_clock.boot_id()
    if boot_now is not None and "created_boot" in columns(db):
        expression = "CASE WHEN boot = ? AND created_boot IS NOT NULL THEN ? - created_boot ELSE ? - created_at END"  # noqa: E501
        return expression, [boot, boot_now, now]
    return "? - created_at", [now]


def read_status(db: sqlite3.Connection, destination: str | None = None) -> SpoolStatus:
    """Pending and dead counts, and the oldest pending row's age, of the rows ``destination``
    delivers (``None``: of every row)."""
    condition, bound = delivered_by(destination)
    age, age_parameters = _age_expression(db)
    pending, oldest = db.execute(
        f"SELECT COUNT(*), MAX({age}) FROM outbox WHERE dead = 0{condition}",  # noqa: S608
        [*age_parameters, *bound],
    ).fetchone()
    (dead,) = db.execute(f"SELECT COUNT(*) FROM outbox WHERE dead = 1{condition}", bound).fetchone()  # noqa: S608
    return SpoolStatus(pending=pending, dead=dead, oldest_age_s=_age(oldest))


def status_by_destination(db: sqlite3.Connection) -> dict[str | None, SpoolStatus]:
    """Each backend's rows apart (``None``: the unbound ones), as they are bound: a backend's
    relay delivers the unbound rows too."""
    if "destination" not in columns(db):  # a spool from before rows were bound, read-only
        return {None: read_status(db)}
    age, age_parameters = _age_expression(db)
    rows = db.execute(
        f"SELECT destination, SUM(dead = 0), SUM(dead = 1), MAX(CASE WHEN dead = 0 THEN {age} END) "  # noqa: S608
        "FROM outbox GROUP BY destination ORDER BY destination IS NULL, destination",
        age_parameters,
    ).fetchall()
    return {
        destination: SpoolStatus(pending=pending, dead=dead, oldest_age_s=_age(oldest))
        for destination, pending, dead, oldest in rows
    }


def _age(oldest: float | None) -> float | None:
    return None if oldest is None else max(0.0, oldest)

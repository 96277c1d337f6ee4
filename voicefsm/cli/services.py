"""``voicefsm backend`` and ``voicefsm outbox``: the reference backend and the spool."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from voicefsm.cli.common import NO_BACKEND, backend_installed, fail, ready_or_exit
from voicefsm.cli.common import settings_or_exit as _settings
from voicefsm.settings import data_directory, private_directory


def run_backend(args: argparse.Namespace) -> int:
    if not backend_installed():
        return fail("backend", NO_BACKEND)
    from voicefsm.backend.openapi import openapi_document  # noqa: PLC0415 (heavy imports)
    from voicefsm.backend.server.db import async_url  # noqa: PLC0415
    from voicefsm.backend.server.limits import ServerLimits  # noqa: PLC0415
    from voicefsm.backend.server.livekit_rooms import LiveKitRooms  # noqa: PLC0415
    from voicefsm.backend.server.runner import serve  # noqa: PLC0415

    if args.openapi:
        sys.stdout.write(openapi_document())
        return 0
    settings = _settings("backend")
    if args.database_url is None:
        ready_or_exit("backend", lambda: data_directory(settings))
        database_url = f"sqlite:///{settings.data_dir / 'backend.sqlite3'}"
    else:
        database_url = args.database_url
        try:
            async_url(database_url)
        except Exception as exc:  # an unknown scheme, a URL SQLAlchemy cannot parse
            return fail("backend", f"--database-url: {exc}")
        if database_url.startswith("sqlite:///"):
            folder = Path(database_url.removeprefix("sqlite:///")).parent
            ready_or_exit("backend", lambda: private_directory(folder, "the database's directory"))
    credentials = settings.livekit_credentials()
    rooms = LiveKitRooms(*credentials) if credentials else None
    limits = ServerLimits.from_settings(settings)
    if settings.backend_caller_key_secret is None:
        print(
            "voicefsm backend: returning callers are refused until "
            "VOICEFSM_BACKEND_CALLER_KEY_SECRET is set",
            file=sys.stderr,
        )
    serve(
        args.host,
        args.port,
        database_url,
        token=settings.backend_token,
        rooms=rooms,
        limits=limits,
        caller_secret=settings.backend_caller_key_secret,
    )
    return 0


def run_outbox(args: argparse.Namespace) -> int:
    from voicefsm.errors import OutboxError  # noqa: PLC0415
    from voicefsm.persistence import commands  # noqa: PLC0415 (heavy imports)

    settings = _settings(f"outbox {args.action}")
    spool: Path = args.spool or settings.spool_path
    command = f"outbox {args.action}"
    if not spool.exists() and not spool.is_symlink():
        return fail(command, f"no spool at {spool}")
    try:
        # Looked at read-only first: a file that is not a spool is reported, never changed.
        inspected = commands.inspect(spool)
        if args.action == "status":
            print(commands.format_status(spool, inspected, as_json=args.json))
            return 0
        if args.action == "requeue":
            count, status = commands.requeue(
                spool,
                status=args.status,
                conversation_id=args.conversation,
                session_id=args.session,
            )
            print(commands.format_requeue(spool, count, status, as_json=args.json))
            return 0
        backend_url = args.backend_url or (
            str(settings.backend_url) if settings.backend_url else None
        )
        if backend_url is None:
            return fail(command, "no backend: pass --backend-url or set VOICEFSM_BACKEND_URL")
        drained = commands.run_drain(
            spool, backend_url, settings.backend_token, args.timeout, args.rebind_from
        )
    except OutboxError as exc:
        return fail(command, str(exc))
    delivered, pending, dead, elsewhere = drained
    # Success is this backend's: rows bound for another one are that backend's drain's.
    others = f" ({elsewhere} pending for other backends)" if elsewhere else ""
    print(f"{spool}: delivered {delivered}; {pending} pending, {dead} dead{others}")
    if dead:
        print(
            "voicefsm outbox drain: the backend refused some writes (dead rows stay in the "
            "spool for inspection; `voicefsm outbox requeue` sends them again once fixed)",
            file=sys.stderr,
        )
    return 0 if pending == 0 and dead == 0 else 1

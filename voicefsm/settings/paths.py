"""The directories voicefsm writes in, checked before anything starts.

An unusable data directory (``XDG_DATA_HOME=/dev/null/x``, ``VOICEFSM_DATA_DIR=/proc/voicefsm``)
was a ``NotADirectoryError`` or ``FileNotFoundError`` traceback from ``simulate`` and
``backend``. Now it is one line naming the path and the cause. The directories are created
private (0700): they hold transcripts at rest.
"""

from __future__ import annotations

import os
from pathlib import Path

from voicefsm.errors import ConfigurationError
from voicefsm.settings.model import Settings


def private_directory(path: Path, what: str) -> Path:
    """``path``, created 0700 if it does not exist; :class:`ConfigurationError` naming ``what``,
    the path and the cause when it cannot be a directory voicefsm writes in. An existing
    directory's mode is left as it is."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError:
        msg = f"{what} {path}: not a directory"
        raise ConfigurationError(msg) from None
    except OSError as exc:
        msg = f"{what} {path}: cannot be created ({exc.strerror or type(exc).__name__})"
        raise ConfigurationError(msg) from None
    if not path.is_dir():
        msg = f"{what} {path}: not a directory"
        raise ConfigurationError(msg)
    if not os.access(path, os.W_OK | os.X_OK):
        msg = f"{what} {path}: not writable"
        raise ConfigurationError(msg)
    return path


def data_directory(settings: Settings) -> Path:
    """The data directory, ready (see :func:`private_directory`)."""
    return private_directory(settings.data_dir, "the data directory (VOICEFSM_DATA_DIR)")


def spool_directory(settings: Settings) -> Path:
    """The spool's directory, ready; a spool path that is a directory is refused too."""
    spool = settings.spool_path
    if spool.is_dir():
        msg = f"the outbox spool (VOICEFSM_SPOOL_PATH) {spool}: a directory, not a file"
        raise ConfigurationError(msg)
    return private_directory(spool.parent, "the outbox spool's directory (VOICEFSM_SPOOL_PATH)")


def embedded_database(settings: Settings) -> Path:
    """Where the backend ``simulate`` embeds keeps its SQLite file (``--data-dir``,
    ``VOICEFSM_DATA_DIR``, else the voicefsm data directory)."""
    return settings.data_dir / "simulate" / "backend.sqlite3"

"""The variables settings are read from, and the ``VOICEFSM_*`` names that are none of them.

A misspelled variable (``VOICEFSM_FLUSH_DEADLINE`` for ``VOICEFSM_FLUSH_DEADLINE_S``) used to be
ignored without a word, the default silently in force. Every unknown ``VOICEFSM_*`` name, in
the environment or in ``.env``, is now warned about once per process, with the closest name that
exists. ``VOICEFSM_TEST_*`` and ``VOICEFSM_BENCH_*`` are the project's own test and benchmark
variables, not settings.
"""

from __future__ import annotations

import difflib
import logging
import multiprocessing
import os
import threading
from collections.abc import Iterable
from pathlib import Path

from dotenv import dotenv_values
from pydantic import AliasChoices

from voicefsm.settings.model import Settings

_LOG = logging.getLogger("voicefsm.settings")
PREFIX = "VOICEFSM_"
#: Variables of the project's own tests and benchmarks, never settings.
NOT_SETTINGS = ("VOICEFSM_TEST_", "VOICEFSM_BENCH_")

_WARNED: set[str] = set()
_WARNED_GUARD = threading.Lock()


def env_names(field: str) -> list[str]:
    """The environment variables a field is read from, the first found winning."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    return [f"{PREFIX}{field.upper()}"]


def env_name(field: str) -> str:
    """The environment variable a field is documented under (its vendor's name when it has one)."""
    return env_names(field)[0]


def known_names() -> list[str]:
    """Every variable some setting is read from, upper case."""
    return sorted({name.upper() for field in Settings.model_fields for name in env_names(field)})


def dotenv_names(path: Path = Path(".env")) -> list[str]:
    """The names a readable ``.env`` sets (none when there is no such file)."""
    if not path.is_file():
        return []
    return [name for name in dotenv_values(path, encoding="utf-8") if name]


def unknown_names(names: Iterable[str]) -> dict[str, str | None]:
    """Each ``VOICEFSM_*`` name in ``names`` that no setting reads, with its closest known
    name (``None`` when nothing is close)."""
    known = known_names()
    ours = [k for k in known if k.startswith(PREFIX)]
    unknown: dict[str, str | None] = {}
    for name in names:
        upper = name.upper()
        if not upper.startswith(PREFIX) or upper in known or upper.startswith(NOT_SETTINGS):
            continue
        close = difflib.get_close_matches(upper, ours, n=1, cutoff=0.6)
        unknown[name] = close[0] if close else None
    return unknown


def warn_unknown_names(dotenv: Path = Path(".env")) -> dict[str, str | None]:
    """Warn, once per process, about each unknown ``VOICEFSM_*`` variable in the environment
    and in ``dotenv``; returns them all. Job processes (livekit starts one per call) stay
    quiet: their parent has said it."""
    unknown = unknown_names([*os.environ, *dotenv_names(dotenv)])
    if multiprocessing.parent_process() is not None:
        return unknown
    for name, closest in sorted(unknown.items()):
        with _WARNED_GUARD:
            if name in _WARNED:
                continue
            _WARNED.add(name)
        if closest is None:
            _LOG.warning("%s is not a voicefsm setting; it is ignored", name)
        else:
            _LOG.warning(
                "%s is not a voicefsm setting; it is ignored (did you mean %s?)", name, closest
            )
    return unknown

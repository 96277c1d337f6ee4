"""What every command shares: settings loaded once, mistakes reported in one line."""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
from collections.abc import Callable

from pydantic import AnyHttpUrl, TypeAdapter, ValidationError

from voicefsm.errors import ConfigurationError
from voicefsm.settings import Settings, load_settings


def settings_or_exit(command: str = "", **overrides: object) -> Settings:
    """The settings, or one line naming every bad variable and exit status 2."""
    try:
        return load_settings(**overrides)
    except ConfigurationError as exc:
        print(f"voicefsm{' ' + command if command else ''}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


#: What the reference backend needs beyond the agent side (the ``backend`` extra).
_BACKEND_MODULES = ("fastapi", "uvicorn", "sqlalchemy", "aiosqlite")
NO_BACKEND = "the reference backend is not installed: pip install 'voicefsm[backend]'"


def backend_installed() -> bool:
    """True when the ``backend`` extra is installed (``voicefsm backend``, and the backend
    ``simulate`` embeds when no ``--backend-url`` is given)."""
    try:
        return all(importlib.util.find_spec(module) is not None for module in _BACKEND_MODULES)
    except ImportError:  # a module that cannot even be looked for is not installed either
        return False


def ready_or_exit(command: str, *checks: Callable[[], object]) -> None:
    """Run each check (a directory made ready, a file read); the first that raises
    :class:`ConfigurationError` is one line and exit status 2, before anything starts."""
    for check in checks:
        try:
            check()
        except ConfigurationError as exc:
            print(f"voicefsm {command}: {exc}", file=sys.stderr)
            raise SystemExit(2) from None


def fail(command: str, message: str) -> int:
    """One line naming the command and what is wrong; the exit status of a user's mistake."""
    print(f"voicefsm {command}: {message}", file=sys.stderr)
    return 2


def _whole_number(text: str, low: int, high: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        msg = f"expected {what}a whole number from {low} to {high}"
        raise argparse.ArgumentTypeError(msg)
    return value


def positive(text: str) -> int:
    return _whole_number(text, 1, 1000, "")


def http_status(text: str) -> int:
    return _whole_number(text, 100, 599, "an HTTP status, ")


def http_url(text: str) -> str:
    """An http(s) URL with a host (``127.0.0.1:8787`` without its scheme is a mistake, not an
    outage to retry)."""
    try:
        TypeAdapter(AnyHttpUrl).validate_python(text)
    except ValidationError:
        msg = "expected an http(s) URL, such as http://127.0.0.1:8787"
        raise argparse.ArgumentTypeError(msg) from None
    return text


#: The longest wait a command accepts: a day.
MAX_SECONDS = 86_400.0


def seconds(text: str) -> float:
    """A duration: a finite number of seconds, more than 0 and at most a day."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= MAX_SECONDS):
        msg = f"expected a number of seconds, more than 0 and at most {MAX_SECONDS:.0f}"
        raise argparse.ArgumentTypeError(msg)
    return value


def agent_option(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--agent",
        metavar="MODULE:ATTR",
        help="your agent: a VoiceAgent subclass, a function returning one, or a server from "
        f"voicefsm.build_server; MODULE or FILE.py, with :ATTR (default: {default})",
    )

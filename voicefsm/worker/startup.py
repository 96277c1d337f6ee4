"""What a worker checks as it starts, however it was started: one message naming every problem.

``python -m livekit.agents start agent.py`` with no keys used to log the providers' missing keys,
then crash inside livekit (``AttributeError: ... '_proc_pool'``, exit 1). Now a worker that
cannot start logs one line naming every invalid and missing setting and exits with status 2;
livekit's console, which needs no provider keys, says what stands in for the missing ones.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence

from voicefsm.errors import ConfigurationError
from voicefsm.providers.console import stand_ins
from voicefsm.settings import Settings, provider_problems, spool_directory, worker_problems

_LOG = logging.getLogger("voicefsm.worker")


def startup_problems(
    settings: Settings, invalid: Sequence[str], *, registered: bool, console: bool
) -> list[str]:
    """Everything that stops this worker: for a registered one, every invalid or missing
    setting and an unusable spool directory; for livekit's console only invalid settings (it
    runs with stand-ins, see :mod:`voicefsm.providers.console`); for an unregistered worker
    (tests, ``simulate_job``), the providers' keys."""
    if console:
        return list(invalid)
    if not registered:
        return [*invalid, *provider_problems(settings)]
    problems = worker_problems(settings, list(invalid))
    try:
        spool_directory(settings)
    except ConfigurationError as exc:
        problems.append(str(exc))
    return problems


def refuse_to_start(
    settings: Settings, invalid: Sequence[str], *, registered: bool, console: bool
) -> None:
    """Return when the worker can start (in the console, having said what stands in for
    missing keys). Otherwise log one line naming every problem, then: a worker run by a CLI
    (registered, or the console) exits with status 2 as soon as :meth:`run` returns, with no
    traceback; an unregistered one (run in a caller's own loop) raises
    :class:`ConfigurationError`."""
    problems = startup_problems(settings, invalid, registered=registered, console=console)
    if problems:
        # The names are voicefsm's own variables; values are never part of a problem.
        _LOG.error("voicefsm cannot start: %s", "; ".join(problems))
        if not (registered or console):
            raise ConfigurationError("; ".join(problems))
        # From a callback rather than the worker's task: livekit's CLI lets SystemExit out of
        # its loop either way, but one raised in a task is also logged as never retrieved.
        asyncio.get_running_loop().call_soon(sys.exit, 2)
        raise WorkerRefused
    if console:
        for line in stand_ins(settings):
            _LOG.warning("console: %s", line)


class WorkerRefused(Exception):  # noqa: N818 (a stop, not a failure to report again)
    """The worker will not start; the reason is logged and the process exits with status 2."""

"""``--agent``: finding the user's agent from an import path, as uvicorn finds an app.

Accepted, where ``ATTR`` names a ``VoiceAgent`` subclass, a function returning a fresh
``VoiceAgent``, or a server built by :func:`voicefsm.build_server`:

* ``package.module:ATTR``  (the module is imported; the current directory is on the path)
* ``path/to/agent.py:ATTR``
* ``package.module`` or ``path/to/agent.py`` alone: its ``server``, else its one ``VoiceAgent``
  subclass

Every mistake is an :class:`AgentLoadError` whose message is one line naming what is wrong.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import traceback
from pathlib import Path
from types import ModuleType

from voicefsm.agent.definition import VoiceAgent
from voicefsm.errors import VoiceFsmError
from voicefsm.worker.entrypoint import AgentFactory
from voicefsm.worker.server import VoiceFsmServer


class AgentLoadError(VoiceFsmError):
    """The ``--agent`` path does not lead to an agent; the message says where it stops."""


def _import(target: str) -> ModuleType:
    path = Path(target)
    if target.endswith(".py") or path.suffix == ".py":
        if not path.is_file():
            msg = f"no file {target}"
            raise AgentLoadError(msg)
        directory = str(path.resolve().parent)
        if directory not in sys.path:
            # The module's own imports (and livekit's job processes, which re-import it by
            # name) find it, as python -m livekit.agents start FILE does.
            sys.path.insert(0, directory)
        name = path.stem
    else:
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        name = target
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            msg = f"no module named {name!r}"
            raise AgentLoadError(msg) from None
        raise AgentLoadError(_failure(target, exc)) from None
    except SystemExit as exc:  # the process is ours: say so in one line, never exit silently
        msg = f"importing {target} called sys.exit({exc.code!r}){_where(exc)}"
        raise AgentLoadError(msg) from None
    except Exception as exc:
        raise AgentLoadError(_failure(target, exc)) from None


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def _failure(target: str, exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"importing {target} failed: {type(exc).__name__}: {exc}{where}"


def _default(module: ModuleType, target: str) -> object:
    server = getattr(module, "server", None)
    if isinstance(server, VoiceFsmServer):
        return server
    agents = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, VoiceAgent)
        and value is not VoiceAgent
        and value.__module__ == module.__name__
    ]
    if len(agents) == 1:
        return agents[0]
    found = "none" if not agents else ", ".join(sorted(a.__name__ for a in agents))
    msg = f"{target} has no 'server' and not exactly one VoiceAgent subclass (found {found}):"
    raise AgentLoadError(msg + " name one, as MODULE:ATTR")


def load_agent(spec: str) -> AgentFactory:
    """The agent factory ``spec`` names (see the module docstring)."""
    target, _, attr = spec.partition(":")
    if not target or (":" in spec and not attr):
        msg = f"{spec!r} is not MODULE:ATTR or FILE.py[:ATTR]"
        raise AgentLoadError(msg)
    module = _import(target)
    if attr:
        try:
            value: object = getattr(module, attr)
        except AttributeError:
            msg = f"{target} has no attribute {attr!r}"
            raise AgentLoadError(msg) from None
    else:
        value = _default(module, target)
    return _factory(value, spec)


def _factory(value: object, spec: str) -> AgentFactory:
    if isinstance(value, VoiceFsmServer):
        return _checked(value.agent, spec)
    if inspect.isclass(value) and issubclass(value, VoiceAgent):
        # Made once here, so a constructor that needs arguments or raises is one line now,
        # not a traceback in every job later.
        return _checked(value, spec)
    if isinstance(value, VoiceAgent):
        msg = f"{spec} is a VoiceAgent instance: pass its class (each call needs its own agent)"
        raise AgentLoadError(msg)
    if callable(value) and not inspect.isclass(value):
        return _checked(value, spec)
    kind = "class" if inspect.isclass(value) else type(value).__name__
    msg = (
        f"{spec} is a {kind}, not a VoiceAgent subclass, a function returning one, or a "
        "server from voicefsm.build_server"
    )
    raise AgentLoadError(msg)


def _checked(factory: object, spec: str) -> AgentFactory:
    """A factory (a function or a class), checked once: it must make a ``VoiceAgent`` with no
    arguments."""
    try:
        made = factory()  # type: ignore[operator]
    except SystemExit as exc:
        msg = f"calling {spec}() called sys.exit({exc.code!r}){_where(exc)}"
        raise AgentLoadError(msg) from None
    except Exception as exc:
        msg = f"calling {spec}() failed: {type(exc).__name__}: {exc}"
        raise AgentLoadError(msg) from None
    if not isinstance(made, VoiceAgent):
        msg = f"{spec}() returned a {type(made).__name__}, not a VoiceAgent"
        raise AgentLoadError(msg)
    return factory  # type: ignore[return-value]

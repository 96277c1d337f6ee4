"""livekit's ``AgentSession``, safe to drive from a sync hook's or a plain ``def`` tool's thread.

voicefsm runs sync user code in threads of its own (:mod:`voicefsm.engine.user_code`), and such
code does what agent code does: ``self.session.say(...)``, ``generate_reply``, ``interrupt``.
livekit's session is bound to its event loop; called from another thread it would create tasks
on no loop or race the loop. Here each of those calls, made off the loop, is handed to the loop
and its result (the ``SpeechHandle``...) handed back to the calling thread, which waits for it:
the same call, made where it may be made.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any, TypeVar

from livekit.agents import AgentSession
from livekit.agents.voice import SpeechHandle

T = TypeVar("T")


class ThreadSafeAgentSession(AgentSession[Any]):
    """An ``AgentSession`` whose public controls may be called from any thread."""

    def say(self, *args: Any, **kwargs: Any) -> SpeechHandle:  # noqa: ANN401 (livekit's own)
        return self._on_loop(lambda: super(ThreadSafeAgentSession, self).say(*args, **kwargs))

    def generate_reply(self, *args: Any, **kwargs: Any) -> SpeechHandle:  # noqa: ANN401
        return self._on_loop(
            lambda: super(ThreadSafeAgentSession, self).generate_reply(*args, **kwargs)
        )

    def interrupt(self, *args: Any, **kwargs: Any) -> asyncio.Future[None]:  # noqa: ANN401
        return self._on_loop(lambda: super(ThreadSafeAgentSession, self).interrupt(*args, **kwargs))

    def shutdown(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        self._on_loop(lambda: super(ThreadSafeAgentSession, self).shutdown(*args, **kwargs))

    def update_agent(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        self._on_loop(lambda: super(ThreadSafeAgentSession, self).update_agent(*args, **kwargs))

    def clear_user_turn(self) -> None:
        self._on_loop(super().clear_user_turn)

    def _on_loop(self, call: Callable[[], T]) -> T:
        """``call()`` on the session's loop: right away from the loop, else handed to it."""
        loop: asyncio.AbstractEventLoop = self._loop
        try:
            if asyncio.get_running_loop() is loop:
                return call()
        except RuntimeError:
            pass  # no loop in this thread: a sync hook's or tool's
        result: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if not result.set_running_or_notify_cancel():
                return
            try:
                result.set_result(call())
            except BaseException as exc:  # raised again in the calling thread
                result.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return result.result()

"""An agent whose hooks and tools misbehave in every way user code can, one fault per session:
raise (``SystemExit``, ``KeyboardInterrupt``), block (a thread that never returns, ``time.sleep``
in an ``async def``), swallow cancellation, and drive the session from a thread."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time

from livekit.agents import RunContext, function_tool

from voicefsm.agent import VoiceAgent, entering, tool_deadline
from voicefsm.agent.hooks import HookContext
from voicefsm.lifecycle import State

#: Hook faults (the hook on entering ``thinking`` does it on the fault turn).
HOOK_FAULTS = (
    "hook exits",
    "hook interrupts",
    "hook swallows cancellation",
    "hook blocks the loop",
    "hook never returns",
    "hook ends the call",
    "hook writes from its thread",
)


class FaultyAgent(VoiceAgent):
    """``fault``: one of :data:`HOOK_FAULTS`, done on turn ``fault_turn``; the tools misbehave
    when the model calls them."""

    def __init__(self, fault: str = "", fault_turn: int = 0) -> None:
        super().__init__(instructions="You misbehave on purpose.")
        self.fault = fault
        self.fault_turn = fault_turn

    # -- hooks ----------------------------------------------------------------------------------

    @entering(State.THINKING)
    def sync_fault(self, hook: HookContext) -> None:
        if hook.entry.turn != self.fault_turn:
            return
        if self.fault == "hook exits":
            sys.exit(4)
        elif self.fault == "hook never returns":
            time.sleep(3600)
        elif self.fault == "hook ends the call":
            self.end_call()
        elif self.fault == "hook writes from its thread":
            hook.write_event("from_a_thread", {"turn": hook.entry.turn})

    @entering(State.THINKING)
    async def async_fault(self, hook: HookContext) -> None:
        if hook.entry.turn != self.fault_turn:
            return
        if self.fault == "hook interrupts":
            raise KeyboardInterrupt
        if self.fault == "hook blocks the loop":
            time.sleep(0.7)
        elif self.fault == "hook swallows cancellation":
            for _ in range(100):
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(0.1)

    # -- tools ----------------------------------------------------------------------------------

    @function_tool
    async def exit_now(self, context: RunContext[None]) -> str:
        """Exit the process."""
        sys.exit(3)

    @function_tool
    async def interrupt_now(self, context: RunContext[None]) -> str:
        """Interrupt."""
        raise KeyboardInterrupt

    @function_tool
    @tool_deadline(0.5)
    async def stubborn(self, context: RunContext[None]) -> str:
        """Ignore being told to stop."""
        for _ in range(30):
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.2)
        return "too late"

    @function_tool
    async def blocking(self, context: RunContext[None]) -> str:
        """Use a blocking client."""
        time.sleep(0.7)
        return "Blocked, then answered."

    @function_tool
    @tool_deadline(0.5)
    def hangs_in_a_thread(self, context: RunContext[None]) -> str:
        """A plain function that never returns."""
        time.sleep(3600)
        return "never"

    @function_tool
    def says_and_hangs_up(self, context: RunContext[None]) -> str:
        """A plain function that speaks and ends the call."""
        context.session.say("Said from the tool's thread.")
        self.write_event("tool_thread", {"said": True})
        self.end_call()
        return "Ending."

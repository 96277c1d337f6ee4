"""An agent whose tools do each thing a tool can do, for the tool tests."""

from __future__ import annotations

import asyncio

from livekit.agents import RunContext, ToolError, function_tool

from voicefsm.agent import VoiceAgent, tool_deadline


class ToolAgent(VoiceAgent):
    """Tools that answer, answer nothing, fail, hang past their deadline, or take a while."""

    def __init__(self) -> None:
        super().__init__(instructions="You look things up.", filler="Still looking, one moment.")
        self.slow_started = asyncio.Event()

    @function_tool
    async def lookup(self, context: RunContext[None], city: str) -> str:
        """Look up the weather in a city."""
        return f"It is sunny in {city}."

    @function_tool
    async def remember(self, context: RunContext[None], note: str) -> None:
        """Remember a note; nothing needs saying afterwards."""
        self.write_event("note", {"note": note})

    @function_tool
    async def broken(self, context: RunContext[None]) -> str:
        """Book something in a system that is down."""
        msg = "the booking system is down"
        raise ToolError(msg)

    @function_tool
    async def buggy(self, context: RunContext[None]) -> str:
        """Check the calendar (its code has a bug)."""
        return str(1 / 0)

    @function_tool
    @tool_deadline(0.5)
    async def stuck(self, context: RunContext[None]) -> str:
        """Ask a system that never answers."""
        await asyncio.sleep(30)
        return "never said"

    @function_tool
    async def slow(self, context: RunContext[None], seconds: float) -> str:
        """Search for a while."""
        self.slow_started.set()
        await asyncio.sleep(seconds)
        return "Found it after a long search."

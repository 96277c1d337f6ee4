"""Every session reaches ``exiting`` within its budget, whatever the outbox does on the way."""

from __future__ import annotations

import asyncio
from pathlib import Path

from trials.support import Backend
from voicefsm import Providers, load_settings, open_session
from voicefsm.agent import VoiceAgent
from voicefsm.lifecycle import State
from voicefsm.providers.scripted import ScriptedLLM


async def test_a_spool_removed_mid_call_still_lets_the_session_exit(
    tmp_path: Path, backend: Backend
) -> None:
    """A cleaner removing the spool under a live call: the flush cannot even read its figures,
    and the session must still be persisted (as far as it can) and exit."""
    spool = tmp_path / "spool" / "outbox.sqlite3"
    settings = load_settings(
        spool_path=spool, backend_url=backend.url, flush_deadline_s=1.0, farewell_deadline_s=0.5
    )
    providers = Providers(llm=ScriptedLLM(ttft_s=0.01), turn_detection="manual")
    agent = VoiceAgent(instructions="test agent")
    async with open_session(
        agent, providers=providers, settings=settings, session_id="ending-1"
    ) as session:
        await session.settled()
        for leftover in spool.parent.iterdir():
            leftover.unlink()
        session.end()
        async with asyncio.timeout(settings.shutdown_budget_s):
            await session.finished.wait()
    assert session.lifecycle.state is State.EXITING

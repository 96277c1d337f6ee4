"""LiveKit's own idioms on a ``VoiceAgent``, through a real ``AgentSession``: ``on_enter`` and
``on_user_turn_completed`` overridden with or without ``super()``, and livekit's ``on_enter`` /
``on_exit`` methods beside the lifecycle's state hooks in one class."""

from __future__ import annotations

import asyncio
import threading
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
from livekit.agents import RunContext, function_tool, llm

from trials.live_session import live_session
from trials.stubs.fault_proxy import fault_proxy
from trials.support import Backend
from voicefsm import Providers, load_settings, open_session
from voicefsm.agent import HookContext, VoiceAgent, entering, leaving
from voicefsm.context import RoomMetadata
from voicefsm.engine.session import VoiceSession
from voicefsm.lifecycle import State
from voicefsm.providers.scripted import ScriptedLLM, ScriptedToolCall, ScriptedTurn
from voicefsm.simulation.scenario import Turn

pytestmark = pytest.mark.slow

WELCOME = "Welcome to the Harbour Hotel, how can I help?"


async def _settled(session: VoiceSession) -> None:
    # A guard, not a timing: a lifecycle stuck in joining fails here instead of hanging.
    await asyncio.wait_for(session.settled(), timeout=30)


def _steps(session: VoiceSession) -> list[tuple[str, str, str]]:
    return [(e.source.value, e.trigger.value, e.dest.value) for e in session.lifecycle.timeline]


async def _handed_off(session: VoiceSession) -> None:
    """Until the session's agent has changed hands once (a handoff on its timeline)."""
    changed = asyncio.Event()
    session.lifecycle.subscribe(lambda _entry: changed.set())
    while not any(e.trigger.value == "handed_off" for e in session.lifecycle.timeline):
        changed.clear()
        await changed.wait()


def _said(session: VoiceSession) -> list[tuple[str, str]]:
    return [(m.role.value, m.text) for m in session.record.history]


def _front_desk() -> Providers:
    """Text providers whose model greets with ``WELCOME`` and knows about breakfast."""
    llm_ = ScriptedLLM(
        ttft_s=0.01,
        script={
            "": ScriptedTurn(reply=WELCOME),
            "Is breakfast included": ScriptedTurn(reply="Yes, from seven to ten."),
        },
    )
    return Providers(llm=llm_, turn_detection="manual")


class GreetsItself(VoiceAgent):
    """The most common LiveKit agent: it greets from ``on_enter``, without ``super()``."""

    def __init__(self) -> None:
        super().__init__(instructions="You run a hotel front desk.")

    async def on_enter(self) -> None:
        self.session.generate_reply(instructions="Greet the caller warmly.")


async def test_on_enter_without_super_keeps_the_lifecycle_and_its_greeting_is_the_greeting(
    tmp_path: Path, backend: Backend
) -> None:
    settings = load_settings(spool_path=tmp_path / "spool.sqlite3", backend_url=backend.url)
    async with open_session(
        GreetsItself(), providers=_front_desk(), settings=settings, session_id="idiom-1"
    ) as session:
        await _settled(session)
        await session.agent_session.run(user_input="Is breakfast included")

    assert _steps(session)[:6] == [
        ("joining", "joined", "loading_context"),
        ("loading_context", "context_loaded", "greeting"),
        ("greeting", "greeted", "listening"),  # its own greeting is the call's greeting
        ("listening", "user_turn_completed", "thinking"),
        ("thinking", "reply_started", "speaking"),
        ("speaking", "reply_finished", "listening"),
    ]
    said = _said(session)
    assert [text for role, text in said if role == "assistant"][:2] == [
        WELCOME,
        "Yes, from seven to ten.",
    ]  # one greeting, recorded once: not voicefsm's default on top of it
    assert ("user", "Is breakfast included") in said
    stored = [(e["role"], e["text"]) for e in backend.events("message")]
    assert stored == said


class GreetsAfterSuper(GreetsItself):
    """The same, calling ``super()`` first as the old docstring asked: one lifecycle part."""

    async def on_enter(self) -> None:
        await super().on_enter()


class GreetsAndWaits(VoiceAgent):
    """Greets from ``on_enter`` and waits for the greeting to be heard (livekit's idiom)."""

    def __init__(self, heard: threading.Event) -> None:
        super().__init__(instructions="You run a hotel front desk.")
        self.heard = heard

    async def on_enter(self) -> None:
        await self.session.generate_reply(instructions="Greet the caller warmly.")
        self.heard.set()


async def test_an_on_enter_greeting_heard_before_the_context_is_loaded_is_the_calls_greeting(
    tmp_path: Path, backend: Backend
) -> None:
    """A brand-new call in a room that names its conversation: the context lookup answers only
    once the agent's own greeting has been heard. The call is not resumed from its own
    greeting, and that greeting is the call's: said once, recorded once."""
    heard = threading.Event()
    with fault_proxy(backend.url) as proxy:
        proxy.gate = heard  # the recent messages are read after the greeting was heard
        settings = load_settings(
            spool_path=tmp_path / "spool.sqlite3",
            backend_url=proxy.url,
            backend_read_timeout_s=30.0,
            history_deadline_s=30.0,
        )
        async with open_session(
            GreetsAndWaits(heard),
            providers=_front_desk(),
            settings=settings,
            session_id="idiom-new-call",
            room=RoomMetadata(conversation_id="c-brand-new"),
        ) as session:
            await _settled(session)
            await session.agent_session.run(user_input="Is breakfast included")

    assert heard.is_set()
    assert _steps(session)[:3] == [
        ("joining", "joined", "loading_context"),
        ("loading_context", "context_loaded", "greeting"),  # not resumed from itself
        ("greeting", "greeted", "listening"),  # its own greeting is the call's greeting
    ]
    assert session.record.prior == []  # nothing preloaded: there was no earlier call
    said = _said(session)
    assert [text for role, text in said if role == "assistant"][:2] == [
        WELCOME,
        "Yes, from seven to ten.",
    ]  # said once, recorded once: not voicefsm's default greeting after it
    spoken = [
        item.text_content
        for item in session.agent_session.history.items
        if isinstance(item, llm.ChatMessage) and item.role == "assistant"
    ]
    assert spoken[:2] == [WELCOME, "Yes, from seven to ten."]
    assert spoken.count(WELCOME) == 1
    stored = [(e["role"], e["text"]) for e in backend.events("message")]
    assert stored == said


class AddsContext(VoiceAgent):
    """livekit's RAG idiom: add to the user's message, without ``super()``."""

    def __init__(self) -> None:
        super().__init__(instructions="You run a hotel front desk.", greeting="Hello!")
        self.seen: list[str] = []

    async def on_user_turn_completed(
        self, turn_ctx: llm.ChatContext, new_message: llm.ChatMessage
    ) -> None:
        self.seen.append(new_message.text_content or "")
        new_message.content.append("(The caller is a hotel guest.)")


def _open(
    agent: VoiceAgent, tmp_path: Path, backend: Backend, llm_: ScriptedLLM
) -> AbstractAsyncContextManager[VoiceSession]:
    settings = load_settings(spool_path=tmp_path / "spool.sqlite3", backend_url=backend.url)
    providers = Providers(llm=llm_, turn_detection="manual")
    return open_session(agent, providers=providers, settings=settings, session_id="idiom-2")


async def test_an_on_enter_calling_super_runs_the_lifecycle_part_once(
    tmp_path: Path, backend: Backend
) -> None:
    llm_ = ScriptedLLM(ttft_s=0.01, script={"": ScriptedTurn(reply=WELCOME)})
    async with _open(GreetsAfterSuper(), tmp_path, backend, llm_) as session:
        await _settled(session)

    triggers = [step[1] for step in _steps(session)]
    assert triggers.count("joined") == 1
    assert triggers[:3] == ["joined", "context_loaded", "greeted"]
    assert next(text for role, text in _said(session) if role == "assistant") == WELCOME


async def test_on_user_turn_completed_without_super_still_gives_the_lifecycle_the_turn(
    tmp_path: Path, backend: Backend
) -> None:
    agent = AddsContext()
    async with live_session(tmp_path, backend_url=backend.url, agent=agent) as live:
        await live.converse([Turn(user="Is the pool open"), Turn(user="Do you have parking")])
        session = live.session

    assert agent.seen == ["Is the pool open", "Do you have parking"]  # livekit called it
    users = [text for role, text in _said(session) if role == "user"]
    assert users == [
        "Is the pool open\n(The caller is a hotel guest.)",
        "Do you have parking\n(The caller is a hotel guest.)",
    ]  # each turn reached the lifecycle once, as the override left it
    steps = _steps(session)
    assert [step[1] for step in steps].count("user_turn_completed") == 2
    assert ("speaking", "reply_finished", "listening") in steps


SPA_WELCOME = "Welcome to the spa. Which treatment would you like?"


class Spa(VoiceAgent):
    """A handoff target that speaks on entry (livekit's ``on_enter``) and has state hooks."""

    def __init__(self) -> None:
        super().__init__(instructions="You book spa treatments.")
        self.left = False

    async def on_enter(self) -> None:
        self.session.say(SPA_WELCOME)

    async def on_exit(self) -> None:
        self.left = True

    @entering(State.THINKING)
    def spa_turn(self, hook: HookContext) -> None:
        hook.write_event("spa_turn", {"turn": hook.entry.turn})

    @leaving(State.SPEAKING)
    def spa_spoke(self, hook: HookContext) -> None:
        hook.write_event("spa_spoke", {"turn": hook.entry.turn})


class Desk(VoiceAgent):
    def __init__(self) -> None:
        super().__init__(instructions="You run a hotel front desk.", greeting="Front desk.")
        self.left = False
        self.spa = Spa()

    async def on_exit(self) -> None:
        self.left = True

    @leaving(State.GREETING)
    def greeted(self, hook: HookContext) -> None:
        hook.write_event("desk_greeted", {"turn": hook.entry.turn})

    @function_tool
    async def transfer_to_spa(self, context: RunContext[None]) -> Spa:
        """Hand the caller to the spa."""
        return self.spa


async def test_livekits_on_enter_and_on_exit_live_beside_state_hooks_and_the_words_are_recorded(
    tmp_path: Path, backend: Backend
) -> None:
    desk = Desk()
    async with live_session(tmp_path, backend_url=backend.url, agent=desk) as live:
        live.llm.script["I would like a massage"] = ScriptedTurn(
            tools=(ScriptedToolCall("transfer_to_spa"),)
        )
        live.llm.script["Hot stones please"] = ScriptedTurn(reply="Booked for three o'clock.")
        await live.converse([Turn(user="I would like a massage"), Turn(user="Hot stones please")])
        session = live.session

    # livekit ran each agent's own on_exit (the handoff, the close)
    assert desk.left
    assert desk.spa.left
    said = _said(session)
    assert said.count(("assistant", SPA_WELCOME)) == 1  # heard, recorded once
    assert said.index(("assistant", SPA_WELCOME)) < said.index(("user", "Hot stones please"))
    spoke = [e for e in session.lifecycle.timeline if e.trigger.value == "spoke"]
    assert [e.source.value for e in spoke][:1] == ["listening"]  # on the timeline, no user turn
    stored = [(e["role"], e["text"]) for e in backend.events("message")]
    assert stored == said
    apps = [(e["name"], e["data"]["turn"]) for e in backend.events("app")]
    assert ("desk_greeted", 0) in apps  # the desk's hook, beside its own on_exit
    assert ("spa_turn", 2) in apps  # the spa's, beside its on_enter
    assert ("spa_spoke", 2) in apps


async def test_a_handed_off_agents_welcome_cut_short_is_recorded_as_heard_and_interrupted(
    tmp_path: Path, backend: Backend
) -> None:
    async with live_session(tmp_path, backend_url=backend.url, agent=Desk()) as live:
        live.llm.script["I would like a massage"] = ScriptedTurn(
            tools=(ScriptedToolCall("transfer_to_spa"),)
        )
        await live.converse(
            [
                Turn(user="I would like a massage"),
                Turn(user="Hot stones please", interrupt_after_ms=400),
            ]
        )
        session = live.session

    # What the caller heard of it, recorded as heard: the words begun before the barge-in (under
    # load livekit may not have synced one yet: then the timeline says it was cut off before a
    # word). Either way it is on the record once, and not as a user turn.
    spoke = [e for e in session.lifecycle.timeline if e.trigger.value == "spoke"][:1]
    assert [e.source.value for e in spoke] == ["listening"]
    heard = [m for m in session.record.history if m.text and SPA_WELCOME.startswith(m.text)]
    if spoke[0].detail == "cut off before a word":
        assert heard == []
        return
    [welcome] = heard
    assert welcome.interrupted
    assert welcome.text != SPA_WELCOME
    stored = [(e["text"], e["interrupted"]) for e in backend.events("message")]
    assert (welcome.text, True) in stored


async def test_a_call_that_comes_back_is_with_the_agent_it_was_handed_to(
    tmp_path: Path, backend: Backend
) -> None:
    """The desk handed the call to the spa; the agent restarts (a new session in the same
    conversation): the call is with the spa again, its agents' flow at the spa's node."""
    settings = load_settings(spool_path=tmp_path / "spool.sqlite3", backend_url=backend.url)
    room = RoomMetadata(conversation_id="c-spa")

    def providers() -> Providers:
        llm_ = ScriptedLLM(
            ttft_s=0.01,
            script={
                "": ScriptedTurn(reply="Front desk."),
                "I would like a massage": ScriptedTurn(
                    tools=(ScriptedToolCall("transfer_to_spa"),)
                ),
                "Hot stones please": ScriptedTurn(reply="Booked for three o'clock."),
            },
        )
        return Providers(llm=llm_, turn_detection="manual")

    async with open_session(
        Desk(), providers=providers(), settings=settings, session_id="spa-1", room=room
    ) as first:
        await _settled(first)
        await first.agent_session.run(user_input="I would like a massage")
        assert isinstance(first.agent, Spa)

    async with open_session(
        Desk(), providers=providers(), settings=settings, session_id="spa-2", room=room
    ) as again:
        await _settled(again)
        assert [step[1] for step in _steps(again)][:2] == ["joined", "resumed"]
        await asyncio.wait_for(_handed_off(again), timeout=30)  # a guard, not a timing
        await again.agent_session.run(user_input="Hot stones please")
        assert isinstance(again.agent, Spa)  # handed back to the spa, not the desk
        agents_flow = again.flows.agents_flow
        assert agents_flow is not None
        assert agents_flow.node == "Spa"
        said = _said(again)
    assert ("assistant", "Booked for three o'clock.") in said
    assert ("user", "I would like a massage") in [
        (m.role.value, m.text) for m in again.record.prior
    ]

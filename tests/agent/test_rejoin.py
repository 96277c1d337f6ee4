"""A dropped caller can come back: through a real AgentSession and a simulated room, a drop
shorter than the grace period keeps the call (and its lifecycle). A longer one ending the call
as ``participant_left``, and no hold without a grace period, are the engine's own
(tests/engine/test_participants_and_rejoin.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest

from trials.live_session import live_session
from voicefsm.lifecycle import EndReason, State
from voicefsm.providers import Providers
from voicefsm.providers.scripted import ScriptedLLM
from voicefsm.settings import load_settings
from voicefsm.simulation.rooms import SIP, SimulatedParticipant, SimulatedRooms
from voicefsm.simulation.scenario import Turn
from voicefsm.worker.room_io import RoomPlumbing


def _caller() -> SimulatedParticipant:
    return SimulatedParticipant("sip_caller", '{"display_name": "Ada"}', kind=SIP)


@pytest.mark.slow
async def test_a_caller_back_within_the_grace_period_continues_the_same_call(
    tmp_path: Path,
) -> None:
    room = SimulatedRooms().room("line-3")
    room.join(_caller())
    settings = {"rejoin_grace_s": 3.0}
    async with live_session(
        tmp_path, settings=settings, room_events=room, caller="sip_caller"
    ) as live:
        await live.session.settled()
        room.leave("sip_caller")  # a mobile handover
        await asyncio.sleep(0.5)
        assert live.session.lifecycle.state is State.LISTENING  # held, not ended
        room.join(_caller())
        await live.converse([Turn(user="Are you still there")])
        session = live.session

    assert session.lifecycle.end_reason is EndReason.HANG_UP  # the caller's own, later
    trail = live.trail()
    dropped = trail.index(("listening", "caller_dropped", "listening"))
    assert trail[dropped + 1] == ("listening", "caller_returned", "listening")
    assert ("listening", "user_turn_completed", "thinking") in trail[dropped:]
    assert "participant_left" not in {trigger for _, trigger, _ in trail}
    returned = next(e for e in session.lifecycle.timeline if e.trigger.value == "caller_returned")
    assert returned.detail is not None
    assert returned.detail.startswith("away 0.")
    assert [m.text for m in session.record.history if m.role.value == "user"] == [
        "Are you still there"
    ]
    caller = session.record.participants["sip_caller"]
    assert (caller.kind, caller.left_at) == ("sip", None)  # back in the room


@pytest.mark.slow
async def test_a_caller_rejoining_before_their_old_disconnect_arrives_keeps_the_call(
    tmp_path: Path,
) -> None:
    """Issue 25, item 12: the new connection is in before the old one's disconnect arrives.
    The identity never left: no hold, no ending after the grace period."""
    room = SimulatedRooms().room("line-4")
    room.join(_caller())
    settings = {"rejoin_grace_s": 1.0}
    async with live_session(
        tmp_path, settings=settings, room_events=room, caller="sip_caller"
    ) as live:
        await live.session.settled()
        old = room.rejoin_before_the_drop(_caller())
        room.drop(old)  # late: the caller is already back
        await asyncio.sleep(1.5)  # past the grace period
        assert live.session.lifecycle.state is State.LISTENING
        await live.converse([Turn(user="Still with me")])
        session = live.session

    assert session.lifecycle.end_reason is EndReason.HANG_UP  # the caller's own, later
    triggers = {trigger for _, trigger, _ in live.trail()}
    assert "participant_left" not in triggers
    assert "caller_dropped" not in triggers
    assert "Still with me" in [m.text for m in session.record.history if m.role.value == "user"]
    assert session.record.participants["sip_caller"].left_at is None


async def test_a_duplicate_identity_reconnect_is_ordered_as_livekit_orders_it() -> None:
    """livekit's SDK disconnects the old connection of an identity before it connects the new
    one: the simulated room does the same, so a scenario sees what a LiveKit room shows."""
    room = SimulatedRooms().room("line-5")
    seen: list[tuple[str, str]] = []
    room.on("participant_connected", lambda p: seen.append(("connected", p.sid)))
    room.on("participant_disconnected", lambda p: seen.append(("disconnected", p.sid)))
    first, second = _caller(), _caller()
    room.join(first)
    room.join(second)
    assert seen == [
        ("connected", first.sid),
        ("disconnected", first.sid),
        ("connected", second.sid),
    ]
    assert room.remote_participants == {"sip_caller": second}


@pytest.mark.parametrize(("grace_s", "livekit_closes"), [(5.0, False), (0.0, True)])
def test_in_a_livekit_room_the_hold_replaces_livekits_close_on_disconnect(
    grace_s: float, livekit_closes: bool
) -> None:
    """RoomIO closes the session when the linked caller leaves unless told not to: with a
    grace period the hold decides, without it livekit does, as before."""
    plumbing = RoomPlumbing(Providers(llm=ScriptedLLM()))
    room = object()
    session = SimpleNamespace(settings=load_settings(rejoin_grace_s=grace_s))
    io = plumbing.attach_io(SimpleNamespace(room=room), session)  # type: ignore[arg-type]
    assert io["room"] is room
    assert io["room_options"].close_on_disconnect is livekit_closes

"""ParticipantWatch and RejoinGrace: the room's participants follow into the record, the
caller's changes reach the caller context, and a dropped caller is held for the grace period."""

from __future__ import annotations

import asyncio
import json

from tests.engine.fakes import LOG, lifecycle, trail
from voicefsm.context import ParticipantMetadata
from voicefsm.engine.call_tasks import CallTasks
from voicefsm.engine.participants import CallerContext, ParticipantWatch
from voicefsm.engine.rejoin import RejoinGrace
from voicefsm.engine.session_record import SessionRecord
from voicefsm.ids import ConversationId, SessionId
from voicefsm.lifecycle import EndReason, HangUp, Joined, Persisted, Resumed
from voicefsm.simulation.rooms import AGENT, SIP, SimulatedParticipant, SimulatedRooms


def _listening(grace_s: float):  # type: ignore[no-untyped-def]
    machine, _ = lifecycle()
    machine.fire(Joined())
    machine.fire(Resumed())
    return machine, RejoinGrace(machine, grace_s)


async def test_a_caller_back_within_the_grace_period_is_the_same_call() -> None:
    machine, rejoin = _listening(grace_s=0.5)
    rejoin.caller_away(True)
    assert rejoin.waiting
    rejoin.caller_away(False)
    await asyncio.sleep(0.6)

    assert trail(machine)[-2:] == [
        ("listening", "caller_dropped", "listening"),
        ("listening", "caller_returned", "listening"),
    ]
    assert [e.detail for e in machine.timeline][-2][:4] == "held"
    assert not rejoin.waiting


async def test_a_caller_gone_past_the_grace_period_has_left() -> None:
    machine, rejoin = _listening(grace_s=0.02)
    rejoin.caller_away(True)
    await asyncio.sleep(0.06)
    machine.fire(Persisted(0))

    assert machine.end_reason is EndReason.PARTICIPANT_LEFT
    assert trail(machine)[-3:] == [
        ("listening", "caller_dropped", "listening"),
        ("listening", "participant_left", "persisting"),
        ("persisting", "persisted", "exiting"),
    ]
    dropped, ended = machine.timeline[-3], machine.timeline[-2]
    assert ended.t - dropped.t >= 0.02  # the grace period was waited out, not skipped


async def test_without_a_grace_period_or_once_ending_a_drop_is_not_held() -> None:
    """0 turns the hold off: leaving is livekit's to act on (RoomIO closes the session)."""
    machine, rejoin = _listening(grace_s=0)
    rejoin.caller_away(True)
    assert not rejoin.waiting
    assert "caller_dropped" not in [step[1] for step in trail(machine)]

    machine, rejoin = _listening(grace_s=0.02)
    rejoin.caller_away(True)
    machine.fire(HangUp())  # the call ends some other way: the timer goes with it
    assert not rejoin.waiting
    await asyncio.sleep(0.06)
    assert [step[1] for step in trail(machine)].count("participant_left") == 0


async def test_the_rooms_participants_are_followed_and_the_caller_linked() -> None:
    machine, rejoin = _listening(grace_s=5.0)
    record = SessionRecord(SessionId("s1"), ConversationId("c1"))
    caller = CallerContext(ParticipantMetadata(), CallTasks(LOG))
    room = SimulatedRooms().room("line-9")
    room.join(SimulatedParticipant("agent-1", kind=AGENT))
    room.join(SimulatedParticipant("sip_1", json.dumps({"display_name": "Ada"}), kind=SIP))
    watch = ParticipantWatch(record, caller="sip_1", caller_context=caller, rejoin=rejoin)

    watch.attach(room)
    room.join(SimulatedParticipant("supervisor", json.dumps({"user_id": "u_boss"})))
    room.set_attributes("sip_1", {"plan": "gold"})
    room.set_metadata("sip_1", json.dumps({"user_id": "u_9"}))
    room.leave("supervisor")
    room.leave("sip_1")

    assert set(record.participants) == {"agent-1", "sip_1", "supervisor"}
    assert [record.participants[i].kind for i in ("agent-1", "sip_1", "supervisor")] == [
        "agent",
        "sip",
        "standard",
    ]
    assert record.participants["supervisor"].left_at is not None
    assert (caller.participant.user_id, caller.attributes) == ("u_9", {"plan": "gold"})
    assert trail(machine)[-1] == ("listening", "caller_dropped", "listening")  # the caller left
    assert record.participants["sip_1"].left_at is not None

    room.join(SimulatedParticipant("sip_1", kind=SIP))
    assert trail(machine)[-1] == ("listening", "caller_returned", "listening")
    watch.detach()
    room.leave("sip_1")
    assert record.participants["sip_1"].left_at is None  # no longer followed

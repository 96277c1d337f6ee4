"""Every participant of the room, followed through the call, and the caller context the LLM
reads.

The room's own events (``participant_connected``, ``participant_disconnected``,
``participant_metadata_changed``, ``participant_attributes_changed``) keep the session's record
of who is in the room: identity, kind, join and leave times, parsed metadata and attributes. A
change to the caller's (the linked participant's) metadata or attributes becomes the caller
context of the next reply (:class:`CallerContext`: their metadata and attributes, as quoted
data after the agent's own instructions). Everything a participant carries is untrusted: it is
parsed by :mod:`voicefsm.context`, and no handler here can raise into livekit's event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from livekit.agents import Agent

from voicefsm.context import (
    ParticipantMetadata,
    parse_participant_attributes,
    parse_participant_metadata,
    participant_context_block,
)
from voicefsm.engine.call_tasks import CallTasks
from voicefsm.engine.rejoin import RejoinGrace
from voicefsm.engine.session_record import ParticipantKind, SessionRecord

_LOG = logging.getLogger("voicefsm.agent")
#: livekit's ``ParticipantKind`` values (``livekit.protocol.models``), by what voicefsm records.
_KINDS: dict[int, ParticipantKind] = {0: "standard", 3: "sip", 4: "agent"}
_EVENTS = (
    "participant_connected",
    "participant_disconnected",
    "participant_metadata_changed",
    "participant_attributes_changed",
)


class RoomEvents(Protocol):
    """Where the room's participant events come from: livekit's ``rtc.Room``, or a simulated
    room (:class:`voicefsm.simulation.rooms.SimulatedRoom`)."""

    @property
    def remote_participants(self) -> Mapping[str, Any]: ...

    def on(self, event: Any, callback: Any = None) -> Any: ...  # noqa: ANN401 (rtc's own)

    def off(self, event: Any, callback: Any) -> None: ...  # noqa: ANN401


def kind_of(participant: object) -> ParticipantKind:
    kind = getattr(participant, "kind", None)
    return _KINDS.get(kind, "other") if isinstance(kind, int) else "other"


def _connection(participant: object) -> object:
    """Which connection of its identity ``participant`` is: livekit's sid (each connection gets
    its own), else the object itself."""
    return _text(getattr(participant, "sid", None)) or id(participant)


def _text(value: object) -> str | None:
    # A participant built by a mock (or a newer livekit) may carry anything: only text counts.
    return value if isinstance(value, str) and value else None


class CallerContext:
    """What the agent knows about its caller; :meth:`changed` makes it the next reply's."""

    def __init__(self, participant: ParticipantMetadata, tasks: CallTasks) -> None:
        self.participant = participant
        self.attributes: dict[str, str] = {}
        self._tasks = tasks
        self._briefed: tuple[Agent, str] | None = None
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` each time the caller's metadata or attributes change."""
        self._listeners.append(listener)

    async def brief(self, agent: Agent) -> None:
        """Give ``agent`` (instructions as text) the caller context after its instructions."""
        if isinstance(agent.instructions, str):
            self._briefed = (agent, agent.instructions)
            await self._apply()

    def changed(self, participant: ParticipantMetadata, attributes: Mapping[str, str]) -> None:
        """The caller's metadata or attributes changed: the briefed agent is told again (a
        task, off the voice path), so the next reply reads them."""
        self.participant = participant
        self.attributes = dict(attributes)
        for listener in self._listeners:
            listener()
        if self._briefed is not None:
            self._tasks.spawn(self._apply(), "voicefsm-caller-context")

    async def _apply(self) -> None:
        if self._briefed is None:
            return
        agent, instructions = self._briefed
        block = participant_context_block(self.participant, self.attributes)
        await agent.update_instructions(instructions + "\n\n" + block)


class ParticipantWatch:
    """Follows one room's participants into ``record``; ``caller`` is the linked identity, whose
    changes go to ``caller_context`` (the next reply reads them) and whose leaving and coming
    back go to ``rejoin`` (the grace period a dropped caller has)."""

    def __init__(
        self,
        record: SessionRecord,
        *,
        caller: str | None,
        caller_context: CallerContext,
        rejoin: RejoinGrace,
    ) -> None:
        self._record = record
        self.caller = caller
        self._caller_context = caller_context
        self._rejoin = rejoin
        self._room: RoomEvents | None = None
        #: Each identity's current connection (its sid): a caller who rejoins before their old
        #: connection's disconnect arrives is still here when it does.
        self._connections: dict[str, object] = {}
        self._handlers: dict[str, Callable[..., None]] = {
            "participant_connected": self._connected,
            "participant_disconnected": self._disconnected,
            "participant_metadata_changed": self._metadata_changed,
            "participant_attributes_changed": self._attributes_changed,
        }

    def attach(self, room: RoomEvents) -> None:
        """Record everyone already in ``room``, then follow its events."""
        self._room = room
        for event in _EVENTS:
            room.on(event, self._handlers[event])
        try:
            present = list(room.remote_participants.values())
        except Exception:  # a room that cannot list its participants still has events
            present = []
        for participant in present:
            self._connected(participant)

    def detach(self) -> None:
        room, self._room = self._room, None
        if room is not None:
            for event in _EVENTS:
                room.off(event, self._handlers[event])

    # -- livekit's events: each contained, whatever the participant carries -------------------

    def _guarded(self, what: str, participant: object, step: Callable[[str], None]) -> None:
        identity = _text(getattr(participant, "identity", None))
        if identity is None:
            return
        try:
            step(identity[:256])
        except Exception as exc:
            _LOG.warning(
                "participant event not followed",
                extra={"event": what, "error_type": type(exc).__name__},
            )

    def _connected(self, participant: object) -> None:
        def join(identity: str) -> None:
            metadata = parse_participant_metadata(_text(getattr(participant, "metadata", None)))
            attributes = parse_participant_attributes(getattr(participant, "attributes", None))
            rejoined = self._record.participant_joined(
                identity, metadata.value, kind=kind_of(participant), attributes=attributes.value
            )
            if identity in self._record.participants:  # (a flooded room's extras are not)
                self._connections[identity] = _connection(participant)
            if identity != self.caller:
                return
            self._caller_context.changed(metadata.value, attributes.value)
            if rejoined:
                self._rejoin.caller_away(False)

        self._guarded("participant_connected", participant, join)

    def _disconnected(self, participant: object) -> None:
        def leave(identity: str) -> None:
            current = self._connections.get(identity)
            if current is not None and current != _connection(participant):
                # The identity connected again before this, its old connection's disconnect,
                # arrived: it is still in the room.
                _LOG.info("a replaced connection's disconnect ignored; the participant stays")
                return
            self._connections.pop(identity, None)
            self._record.participant_left(identity)
            if identity == self.caller:
                self._rejoin.caller_away(True)

        self._guarded("participant_disconnected", participant, leave)

    def _metadata_changed(
        self, participant: object, _old: object = None, new: object = None
    ) -> None:
        def change(identity: str) -> None:
            raw = _text(new) if new is not None else _text(getattr(participant, "metadata", None))
            state = self._record.participant_changed(
                identity, metadata=parse_participant_metadata(raw).value
            )
            if identity == self.caller and state is not None:
                self._caller_context.changed(state.metadata, state.attributes)

        self._guarded("participant_metadata_changed", participant, change)

    def _attributes_changed(self, _changed: object, participant: object) -> None:
        def change(identity: str) -> None:
            # The participant holds the whole set after the change; parse that, not the delta.
            attributes = parse_participant_attributes(getattr(participant, "attributes", None))
            state = self._record.participant_changed(identity, attributes=attributes.value)
            if identity == self.caller and state is not None:
                self._caller_context.changed(state.metadata, state.attributes)

        self._guarded("participant_attributes_changed", participant, change)

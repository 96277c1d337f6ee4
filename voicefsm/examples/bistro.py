"""The example agent: the telephone line of a small restaurant, written on the public API only.

Its conversation is a flow (:class:`BistroFlow`): greet → collect the party size, day and time →
confirm → book → anything else? → goodbye. The model moves it with the tools generated from
the flow (``start_booking``, ``set_party_size``...); booking a table (a tool whose result is
written durably through the outbox, and kept in the call's typed shared state,
``Reservations``) moves it on from the agent's own code. The agent ends the call itself when
the caller is done (a tool calling ``end_call``), and files a note when the call is persisted
(a hook, which reads the shared state too). ``voicefsm simulate`` runs it through the example
scenario, whose expectations name the nodes the call must pass through.
"""

from __future__ import annotations

import hashlib

from livekit.agents import RunContext, ToolError, function_tool
from pydantic import BaseModel, Field

from voicefsm.agent import VoiceAgent
from voicefsm.agent.hooks import HookContext, entering
from voicefsm.context import ParticipantMetadata, RoomMetadata
from voicefsm.flows import Flow, Node
from voicefsm.lifecycle import Role, State

INSTRUCTIONS = (
    "You answer the phone for Bistro Ada, a small restaurant open Tuesday to Sunday, 6 pm to "
    "11 pm. Take table bookings with the book_table tool; confirm the day, time and party "
    "size first. When the caller has nothing more to ask, say goodbye and use the hang_up "
    "tool. Answer in one or two short spoken sentences, without lists or markdown."
)
MAX_PARTY = 12


def greet(room: RoomMetadata, caller: ParticipantMetadata) -> str:
    """By name when the caller's metadata has a name fit to say aloud."""
    name = f", {caller.speakable_name}" if caller.speakable_name else ""
    return f"Bistro Ada, good evening{name}! Would you like to book a table?"


class Table(BaseModel):
    """The table the caller asks for, collected along the flow."""

    party_size: int | None = Field(
        default=None, ge=1, le=MAX_PARTY, description="How many people are coming"
    )
    day: str | None = Field(default=None, max_length=32, description='The day, e.g. "Friday"')
    time: str | None = Field(default=None, max_length=16, description='The time, e.g. "20:00"')


class BistroFlow(Flow[Table]):
    """A table booking, from the greeting to the goodbye."""

    common_tools = ("book_table", "hang_up")

    greet = Node("Ask whether the caller would like to book a table.")
    collect = Node(
        "Ask for the party size, the day and the time, and record each as the caller gives it.",
        collects=("party_size", "day", "time"),
    )
    confirm = Node(
        "Read the booking back in one sentence and ask the caller to confirm it; record any "
        "change they make. Once they say yes, book it with book_table.",
        collects=("party_size", "day", "time"),
    )
    book = Node("Tell the caller their booking reference.")
    anything_else = Node("Ask whether there is anything else you can do for the caller.")
    goodbye = Node("Thank the caller, say goodbye and hang up.", final=True)

    start_booking = greet.to(collect)
    details_complete = collect.to(confirm, requires=("party_size", "day", "time"), auto=True)
    # Taken by book_table's own code: the model books, the flow follows.
    confirmed = confirm.to(book, requires=("party_size", "day", "time"), tool=False)
    booked = book.to(anything_else, tool=False)
    nothing_else = anything_else.to(goodbye)
    another_booking = anything_else.to(collect, clears=("party_size", "day", "time"))


class Reservations(BaseModel):
    """What one call has booked: every agent of the call reads it (``context.userdata``), and
    the session summary keeps it."""

    references: list[str] = []


class BistroAgent(VoiceAgent, flow=BistroFlow, userdata=Reservations):
    """Takes table bookings for Bistro Ada, along :class:`BistroFlow`."""

    def __init__(self) -> None:
        super().__init__(
            instructions=INSTRUCTIONS,
            greeting=greet,
            farewell="Thank you for calling Bistro Ada. Goodbye!",
        )

    @function_tool
    async def book_table(
        self, context: RunContext[Reservations], day: str, time: str, people: int
    ) -> str:
        """Book a table once the caller has confirmed it.

        Args:
            day: The day of the booking, e.g. "Friday".
            time: The time of the booking, e.g. "20:00".
            people: How many people the table is for.
        """
        if not 1 <= people <= MAX_PARTY:
            msg = f"we take bookings for 1 to {MAX_PARTY} people"
            raise ToolError(msg)
        booking = hashlib.sha256(f"{context.speech_handle.id}{day}{time}".encode()).hexdigest()
        reference = f"B{int(booking[:8], 16) % 10_000:04d}"
        context.userdata.references.append(reference)
        self.write_event(
            "booking", {"reference": reference, "day": day, "time": time, "people": people}
        )
        # From confirm, the flow goes through book to anything_else; elsewhere (a caller who
        # gave everything at once) it stays where it is, and says so to the model.
        await self.take(BistroFlow.confirmed)
        await self.take(BistroFlow.booked)
        return f"Booked: a table for {people} on {day} at {time}. Your reference is {reference}."

    @function_tool
    async def hang_up(self, context: RunContext[Reservations]) -> None:
        """End the call, once the caller has said they have nothing more to ask."""
        self.end_call()

    @entering(State.PERSISTING)
    def file_call_note(self, hook: HookContext) -> None:
        """A note per call for the restaurant's records, written with the call."""
        said = [item for item in hook.history if item.role is Role.USER]
        booked: Reservations = hook.userdata
        hook.write_event(
            "call_note",
            {
                "caller_turns": len(said),
                "ended_by": hook.entry.trigger.value,
                "bookings": len(booked.references),
            },
        )

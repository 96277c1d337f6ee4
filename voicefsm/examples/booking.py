"""A restaurant's booking line as a conversation flow, written on the public API only.

greet → collect the party size, day and time → confirm (a "no" goes back to collect) → get an
email address (livekit's prebuilt ``GetEmailTask``) → book → anything else? → goodbye; a large
party is handed to the events desk, another agent. ``voicefsm diagrams --agent
voicefsm.examples.booking:BookingAgent`` draws it (the same flow as a file: ``booking.yaml``).
"""

from __future__ import annotations

import hashlib
from typing import Literal

from livekit.agents import RunContext, function_tool
from livekit.agents.beta.workflows import GetEmailTask
from pydantic import BaseModel, Field

from voicefsm.agent import VoiceAgent
from voicefsm.flows import Flow, Node, TaskStep

LARGE_PARTY = 8
Day = Literal["Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


class TableRequest(BaseModel):
    """What the caller asks for, collected along the flow."""

    party_size: int | None = Field(
        default=None, ge=1, le=20, description="How many people are coming"
    )
    day: Day | None = Field(
        default=None, description="The day, Tuesday to Sunday (closed on Mondays)"
    )
    time: str | None = Field(
        default=None,
        pattern=r"^(1[8-9]|2[0-2]):[0-5]\d$",
        description="The time, 24-hour HH:MM, between 18:00 and 22:59",
        examples=["20:00"],
    )
    confirmed: bool | None = Field(default=None, description="True once the caller says yes to it")
    email: str | None = None


def is_large_party(request: TableRequest) -> bool:
    """More people than a table seats: the events desk takes those."""
    return (request.party_size or 0) > LARGE_PARTY


class EventsDesk(VoiceAgent):
    """Takes bookings for large parties and private events."""

    def __init__(self) -> None:
        super().__init__(
            instructions="You plan large-party bookings and private events for Bistro Ada. "
            "Ask about the occasion and the budget, and promise a call back within a day."
        )


class BookingFlow(Flow[TableRequest]):
    """A table booking, from the greeting to the goodbye."""

    common_tools = ("hang_up",)

    greet = Node("Greet the caller and ask whether they would like to book a table.")
    collect = Node(
        "Ask for the party size, the day and the time, one at a time, and record each.",
        collects=("party_size", "day", "time"),
        tools=("check_availability",),
    )
    confirm = Node(
        "Read the booking back in one sentence and ask the caller to confirm it.",
        collects=("confirmed",),
        context="summarise",
    )
    email = Node(task=TaskStep(GetEmailTask, stores={"email": "email_address"}))
    book = Node(
        "Book the table with book_table, then tell the caller their reference.",
        tools=("book_table",),
    )
    anything_else = Node("Ask whether there is anything else you can do for the caller.")
    events = Node(agent=EventsDesk, final=True)
    goodbye = Node("Thank the caller, say goodbye and hang up.", final=True)

    start_booking = greet.to(collect)
    details_complete = collect.to(confirm, requires=("party_size", "day", "time"))
    large_party = collect.to(events, when=is_large_party, refusal="the party is not that large")
    confirmed_yes = confirm.to(email, equals={"confirmed": True}, auto=True)
    change_details = confirm.to(collect, clears=("confirmed",))
    email_given = email.to(book, requires=("email",), auto=True)
    no_email = email.to(book, description="The caller would rather not give an email address.")
    booked = book.to(anything_else, tool=False)
    nothing_else = anything_else.to(goodbye)
    another_booking = anything_else.to(collect, clears=("confirmed", "email"))


class BookingAgent(VoiceAgent, flow=BookingFlow):
    """Bistro Ada's booking line, run by :class:`BookingFlow`."""

    def __init__(self) -> None:
        super().__init__(
            instructions="You answer the phone for Bistro Ada. Speak in one or two short "
            "sentences, without lists or markdown.",
            greeting="Bistro Ada, good evening! Would you like to book a table?",
            farewell="Thank you for calling Bistro Ada. Goodbye!",
        )

    @function_tool
    async def check_availability(self, context: RunContext[None], day: Day, time: str) -> str:
        """Whether a table is free on a day at a time.

        Args:
            day: The day, e.g. "Friday".
            time: The time, 24-hour HH:MM.
        """
        return f"Yes, we have tables on {day} at {time}."

    @function_tool
    async def book_table(self, context: RunContext[None]) -> str | tuple[object, str]:
        """Book the table the caller confirmed."""
        request = self.flow.data if self.flow is not None else TableRequest()
        digest = hashlib.sha256(request.model_dump_json().encode()).hexdigest()
        reference = f"B{int(digest[:8], 16) % 10_000:04d}"
        self.write_event("booking", {"reference": reference, **request.model_dump(mode="json")})
        moved = await self.take(BookingFlow.booked)
        said = moved if isinstance(moved, str) else moved[1]
        return f"Booked, reference {reference}. {said}"

    @function_tool
    async def hang_up(self, context: RunContext[None]) -> None:
        """End the call, once the caller has nothing more to ask."""
        self.end_call()

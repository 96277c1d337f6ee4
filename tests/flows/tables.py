"""A small booking flow the flow tests share: every kind of edge and guard in a few nodes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from voicefsm.flows import Flow, Node, TaskStep


class Booking(BaseModel):
    party_size: int | None = Field(
        default=None, ge=1, le=12, description="How many people are coming"
    )
    day: Literal["Friday", "Saturday"] | None = None
    time: str | None = Field(default=None, pattern=r"^\d\d:\d\d$", examples=["20:00", "8pm"])
    confirmed: bool | None = None
    email: str | None = None

    @model_validator(mode="after")
    def _no_large_party_on_saturday(self) -> Booking:
        if self.day == "Saturday" and (self.party_size or 0) > 10:
            msg = "on Saturdays we seat at most 10"
            raise ValueError(msg)
        return self


def is_large_party(data: Booking) -> bool:
    return (data.party_size or 0) > 8


def over_eight(data: BaseModel) -> bool:
    """A guard for a flow file, whose data model is made from the file."""
    return (getattr(data, "party_size", None) or 0) > 8


class EmailResult:
    def __init__(self, email_address: str) -> None:
        self.email_address = email_address


def get_email() -> EmailResult:
    return EmailResult("never@called.example")


class EventsDesk:
    """Stands for an agent the flow hands large parties to."""


class TableFlow(Flow[Booking]):
    common_tools = ("hang_up",)

    greet = Node("Greet the caller; ask if they want a table.")
    collect = Node(
        "Ask for the party size, the day and the time.",
        collects=("party_size", "day", "time"),
        tools=("check_availability",),
    )
    confirm = Node(
        "Read the booking back; ask for a yes.", collects=("confirmed",), context="reset"
    )
    email = Node(
        "Get an email for the confirmation.", task=TaskStep(get_email, {"email": "email_address"})
    )
    events = Node(agent=EventsDesk, final=True)
    goodbye = Node("Say goodbye.", final=True)

    go_to_collect = greet.to(collect)
    go_to_confirm = collect.to(confirm, requires=("party_size", "day", "time"))
    go_to_events = collect.to(events, when=is_large_party, refusal="the party is not large")
    confirmed_yes = confirm.to(email, equals={"confirmed": True}, auto=True)
    change_details = confirm.to(collect, clears=("confirmed",))
    email_given = email.to(goodbye, requires=("email",), auto=True)
    skip_email = email.to(goodbye, tool=False)

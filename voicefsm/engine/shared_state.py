"""The call's shared state (livekit's ``userdata``) as the engine reads it: for hooks and for
the session summary."""

from __future__ import annotations

from typing import Any

from livekit.agents import AgentSession
from pydantic import JsonValue

from voicefsm.agent.shared_state import userdata_json


def session_userdata(agent_session: AgentSession[Any]) -> object | None:
    """``agent_session``'s userdata, or None when the call has none (livekit raises)."""
    try:
        userdata: object = agent_session.userdata
    except ValueError:
        return None
    return userdata


def session_userdata_json(agent_session: AgentSession[Any]) -> JsonValue:
    """The userdata as JSON for the session summary (None without one)."""
    return userdata_json(session_userdata(agent_session))

"""Which stored flow state a resumed call restores: its agent's flow's, by name; one that no
longer fits the flow (it changed since) is logged and the flow starts over at its first node."""

from __future__ import annotations

import logging

import pytest

from voicefsm.agent import VoiceAgent
from voicefsm.engine.resume import _restore_flow
from voicefsm.examples.booking import BookingAgent


async def test_only_the_agents_own_flow_is_restored_and_a_state_that_no_longer_fits_is_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    agent = BookingAgent()
    assert agent.flow is not None
    other = {"flow": "SomeOtherFlow", "version": 1, "node": "x", "steps": 0, "data": {}, "path": []}
    assert await _restore_flow(agent, [other]) is False
    stale = agent.flow.snapshot() | {"node": "a_node_since_removed"}
    with caplog.at_level(logging.WARNING):
        assert await _restore_flow(agent, [other, stale]) is False
    assert agent.flow.node == "greet"
    assert "stored flow state does not fit the flow" in caplog.text
    assert await _restore_flow(VoiceAgent(), [stale]) is False  # an agent without a flow

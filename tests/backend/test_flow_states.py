"""The backend keeps where each flow of a conversation is (its latest ``flow_state``) and
returns it for a call that resumes, on SQLite and PostgreSQL: the highest step wins, a replay
or a late delivery of an older step changes nothing, and each flow and conversation is kept
apart."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from tests.backend.test_server import T0, post_events
from voicefsm.backend.client import BackendClient


def flow_state(
    key: str,
    step: int,
    node: str,
    *,
    flow: str = "TableFlow",
    data: dict[str, object] | None = None,
    seconds: int | None = None,
) -> dict[str, object]:
    state = {
        "flow": flow,
        "version": 1,
        "node": node,
        "steps": step,
        "data": data or {},
        "path": [],
    }
    return {
        "idempotency_key": key,
        "session_id": "s1",
        "at": (T0 + timedelta(seconds=step if seconds is None else seconds)).isoformat(),
        "kind": "flow_state",
        "flow": flow,
        "step": step,
        "edge": f"to_{node}",
        "from_node": "greet",
        "to_node": node,
        "by": "model",
        "dwell_s": 1.5,
        "state": state,
    }


def flows(http: httpx.Client, conv: str = "c1") -> list[dict[str, object]]:
    response = http.get(f"/api/v1/conversations/{conv}/flows")
    assert response.status_code == 200
    body = response.json()
    assert body["conversation_id"] == conv
    return list(body["flows"])


def test_the_latest_step_of_each_flow_is_kept_and_an_older_one_arriving_late_changes_nothing(
    http: httpx.Client,
) -> None:
    assert flows(http) == []
    assert post_events(http, [flow_state("s1:1", 1, "collect")]).status_code == 200
    later = flow_state("s1:2", 2, "confirm", data={"party_size": 4})
    assert post_events(http, [later]).status_code == 200
    # The crashed predecessor's first change, delivered after the resumed call's: ignored.
    assert post_events(http, [flow_state("s0:9", 1, "collect")]).status_code == 200
    # Data collected at the same node (no edge, same step) written later than the move: kept.
    same_step = flow_state("s1:4", 2, "confirm", data={"party_size": 5}, seconds=3)
    del same_step["edge"], same_step["from_node"], same_step["by"], same_step["dwell_s"]
    assert post_events(http, [same_step]).status_code == 200
    # ... and one of the same step written before the kept one changes nothing.
    assert post_events(http, [flow_state("s0:5", 2, "confirm", seconds=1)]).status_code == 200
    other_flow = flow_state("s1:3", 1, "Billing", flow="BistroAgents")
    elsewhere = flow_state("x:2", 1, "Billing", flow="BistroAgents")
    post_events(http, [elsewhere, flow_state("x:1", 5, "done")], conv="c2")
    assert post_events(http, [other_flow]).status_code == 200
    [agents, table] = flows(http)
    assert table == same_step["state"]
    assert agents == other_flow["state"]
    assert [state["node"] for state in flows(http, "c2")] == ["Billing", "done"]  # by flow name


def test_a_replayed_event_is_a_duplicate_and_keeps_the_state(http: httpx.Client) -> None:
    event = flow_state("s1:1", 3, "confirm", data={"party_size": 2})
    post_events(http, [event])
    replay = post_events(http, [event])
    assert replay.json() == {"accepted": 0, "duplicates": 1}
    assert flows(http) == [event["state"]]


def test_a_state_over_the_contract_limit_is_refused_whole(http: httpx.Client) -> None:
    huge = flow_state("s1:1", 1, "collect", data={"notes": "x" * 70_000})
    response = post_events(http, [huge])
    assert response.status_code == 422
    assert flows(http) == []


def test_the_client_reads_flow_states_and_degrades_to_none(backend_url: str) -> None:
    async def read(url: str) -> list[dict[str, object]] | None:
        async with httpx.AsyncClient(base_url=url) as http:
            return await BackendClient(http, read_deadline_s=2.0).flow_states("c1")  # type: ignore[return-value]

    with httpx.Client(base_url=backend_url) as http:
        post_events(http, [flow_state("s1:1", 1, "collect")])
    assert asyncio.run(read(backend_url)) == [flow_state("s1:1", 1, "collect")["state"]]
    assert asyncio.run(read("http://127.0.0.1:9")) is None

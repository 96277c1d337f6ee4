"""A flow's node changes in the observability: Prometheus dwell per node (declared names only),
OpenTelemetry spans per node under the session span, node bands in the timeline picture, and
scenario expectations over the nodes a call passed through."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from itertools import count
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from tests.test_observability import SVG, conversation, records_of, ticking
from voicefsm.cli import main
from voicefsm.flows import NodeChange
from voicefsm.observability import figures, picture
from voicefsm.observability.prometheus import PrometheusMetrics
from voicefsm.observability.tracing import SessionTracer
from voicefsm.simulation.expectations import check, passed_nodes
from voicefsm.simulation.scenario import parse_scenario


def change(step: int, edge: str, source: str, dest: str, dwell_s: float) -> NodeChange:
    return NodeChange("BookingFlow", step, edge, source, dest, "model", 0.0, dwell_s, {})


def node(t: float, step: int, source: str, dest: str, flow: str = "BookingFlow") -> dict[str, Any]:
    return {"t": t, "kind": "node", "flow": flow, "step": step, "edge": f"to_{dest}",
            "from": source, "to": dest, "by": "model", "turn": step, "dwell_s": 0.0}  # fmt: skip


def test_node_dwell_and_changes_are_counted_under_declared_names() -> None:
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    metrics.node_change(change(1, "start_booking", "greet", "collect", 2.0))
    metrics.node_change(change(2, "details_complete", "collect", "confirm", 7.5))
    metrics.node_left("BookingFlow", "confirm", 1.25)

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"flow": "BookingFlow", **labels})

    assert sample("voicefsm_flow_node_dwell_seconds_sum", node="collect") == 7.5
    assert sample("voicefsm_flow_node_dwell_seconds_count", node="greet") == 1
    assert sample("voicefsm_flow_node_dwell_seconds_sum", node="confirm") == 1.25
    assert sample("voicefsm_flow_node_changes_total", edge="start_booking", by="model") == 1


def test_each_stay_in_a_node_is_a_span_under_the_session_ended_with_it() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    lifecycle = ticking()
    tracer = SessionTracer(
        lifecycle,
        session_id="s1",
        conversation_id="c1",
        tracer=provider.get_tracer("test"),
        clock=lambda: 0.0,
    )
    tracer.node_change(change(1, "start_booking", "greet", "collect", 1.0), 1.0)
    tracer.node_change(change(2, "details_complete", "collect", "confirm", 2.0), 3.0)
    conversation(lifecycle)

    finished = exporter.get_finished_spans()
    session = next(s for s in finished if s.name == "voicefsm.session")
    nodes = [s for s in finished if s.name.startswith("voicefsm.node.")]
    assert [s.name for s in nodes] == [
        "voicefsm.node.greet",
        "voicefsm.node.collect",
        "voicefsm.node.confirm",  # the last, ended with the session
    ]
    assert all(s.parent is not None and s.parent.span_id == session.context.span_id for s in nodes)
    greet, collect, confirm = nodes
    assert greet.end_time - greet.start_time == 1_000_000_000
    assert collect.end_time - collect.start_time == 2_000_000_000
    assert collect.attributes is not None
    assert collect.attributes["voicefsm.flow.edge"] == "start_booking"
    assert collect.attributes["voicefsm.flow.exit_edge"] == "details_complete"
    assert confirm.end_time == session.end_time


def test_the_picture_draws_each_flows_nodes_as_bands_under_the_states() -> None:
    lifecycle = ticking()
    conversation(lifecycle)
    records = records_of(lifecycle)  # 11 transitions, half a second each: 5.5 s
    records += [node(1.0, 1, "greet", "collect"), node(3.0, 2, "collect", "confirm")]
    records += [node(2.0, 1, "BookingAgent", "EventsDesk", flow="BookingAgentAgents")]
    root = ET.fromstring(picture.render_svg(sorted(records, key=lambda r: float(r["t"]))))

    states = [r for r in root.iter(f"{SVG}rect") if "data-state" in r.attrib]
    assert len(states) == 12  # node changes are not lifecycle stays
    bands = [
        (r.attrib["data-flow"], r.attrib["data-node"], float(r.attrib["data-seconds"]))
        for r in root.iter(f"{SVG}rect")
        if "data-node" in r.attrib
    ]
    assert bands == [
        ("BookingAgentAgents", "BookingAgent", 2.0),
        ("BookingAgentAgents", "EventsDesk", 3.5),
        ("BookingFlow", "greet", 1.0),
        ("BookingFlow", "collect", 2.0),
        ("BookingFlow", "confirm", 2.5),  # until the session's end
    ]
    width = {r.attrib["data-node"]: float(r.attrib["width"]) for r in root.iter(f"{SVG}rect")
             if "data-node" in r.attrib}  # fmt: skip
    assert abs(width["collect"] - 2 * width["greet"]) < 0.02  # to scale


def test_the_timeline_command_reads_node_changes_and_tables_node_dwell(
    tmp_path: Path, capsys: Any
) -> None:
    lifecycle = ticking()
    conversation(lifecycle)
    records = [*records_of(lifecycle), node(1.0, 1, "greet", "collect")]
    source = tmp_path / "call.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    assert main(["timeline", str(source), "-o", str(tmp_path / "call.html")]) == 0
    page = (tmp_path / "call.html").read_text(encoding="utf-8")
    assert "<h2>Time in each node (s)</h2>" in page
    assert "<td>BookingFlow</td><td>collect</td><td>4.500</td>" in page
    assert figures.split(records)[1] == [records[-1]]
    source.write_text(json.dumps({"t": 1, "kind": "node", "from": "a"}) + "\n", encoding="utf-8")
    assert main(["timeline", str(source)]) == 2
    assert "a node change: kind node, t, flow, from and to" in capsys.readouterr().err


def test_node_expectations_hold_in_order_and_name_where_the_call_went() -> None:
    scenario = parse_scenario(
        "turns: [{user: hi}]\nexpect: {nodes: [greet, confirm, goodbye]}\n", source="s.yaml"
    )
    steps = count(1)
    went = [
        node(1, next(steps), "greet", "collect"),
        node(2, next(steps), "collect", "confirm"),
        node(3, next(steps), "confirm", "goodbye"),
    ]
    base = {"tools": [], "end_reason": "hang_up", "history": []}
    [held] = check(scenario, base | {"nodes": went})
    assert held["ok"]
    assert held["seen"] == ["greet", "collect", "confirm", "goodbye"]
    [failed] = check(scenario, base | {"nodes": went[:2]})
    assert not failed["ok"]
    assert failed["failure"] == (
        "the call never reached node goodbye after confirm (it went greet -> collect -> confirm)"
    )
    assert passed_nodes([]) == []

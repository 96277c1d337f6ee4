"""One simulated session, observed three ways: spans, metrics and the timeline picture agree
with each other and with the simulate report."""

from __future__ import annotations

import asyncio
import contextlib
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from trials.support import Backend, free_port
from voicefsm.cli import _write_timelines
from voicefsm.examples.bistro import BistroAgent
from voicefsm.observability import figures, picture
from voicefsm.observability.prometheus import PrometheusMetrics
from voicefsm.settings import load_settings
from voicefsm.simulation.runner import simulate
from voicefsm.simulation.scenario import Scenario, ToolStep, Turn
from voicefsm.worker.server import process_metrics

pytestmark = pytest.mark.slow  # real sessions, processes or servers: seconds each


def observers() -> tuple[InMemorySpanExporter, TracerProvider, CollectorRegistry]:
    """Spans kept in memory, and a registry of our own for the metrics."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter, provider, CollectorRegistry()


async def test_spans_metrics_picture_and_report_tell_the_same_story(
    tmp_path: Path, backend: Backend
) -> None:
    exporter, provider, registry = observers()
    settings = load_settings(spool_path=tmp_path / "spool.sqlite3", backend_url=backend.url)
    scenario = Scenario(
        turns=[
            Turn(user="Tell me about the museum opening hours", pause_ms=100),
            Turn(user="Stop there thanks", interrupt_after_ms=300),
        ]
    )
    [report] = (
        await simulate(
            scenario, settings, metrics=PrometheusMetrics(registry), tracer=provider.get_tracer("t")
        )
    ).sessions

    timeline = report["timeline"]
    dwell = figures.dwell_by_state(timeline)

    # Spans: one per stay, their boundaries the lifecycle's own transition times.
    spans = [s for s in exporter.get_finished_spans() if s.name.startswith("voicefsm.state.")]
    assert len(spans) == len(timeline) + 1
    span_dwell: dict[str, float] = defaultdict(float)
    for span in spans:
        span_dwell[span.attributes["voicefsm.state"]] += (span.end_time - span.start_time) / 1e9
    for state, seconds in dwell.items():
        assert span_dwell[state] == pytest.approx(seconds, abs=1e-5), state

    # Metrics: the dwell histogram and the transition counter hold exactly the timeline's figures.
    for state, seconds in dwell.items():
        if state != "exiting":
            observed = registry.get_sample_value(
                "voicefsm_state_dwell_seconds_sum", {"state": state}
            )
            # The report's times are rounded to microseconds; a few stays add up to 1e-5.
            assert observed == pytest.approx(seconds, abs=1e-5), state
    transitions = sum(
        sample.value
        for metric in registry.collect()
        if metric.name == "voicefsm_transitions"
        for sample in metric.samples
        if sample.name == "voicefsm_transitions_total"
    )
    assert transitions == len(timeline)
    e2e = [t["e2e_latency_s"] for t in report["latencies"] if t["e2e_latency_s"] is not None]
    assert registry.get_sample_value(
        "voicefsm_turn_latency_seconds_count", {"stage": "e2e"}
    ) == len(e2e)
    assert registry.get_sample_value(
        "voicefsm_turn_latency_seconds_sum", {"stage": "e2e"}
    ) == pytest.approx(sum(e2e))

    # The picture, drawn from the JSON lines simulate --timeline-dir writes.
    _write_timelines(tmp_path / "timelines", [report])
    records = figures.read_jsonl(tmp_path / "timelines" / f"{report['session_id']}.jsonl")
    assert records == timeline
    root = ET.fromstring(picture.render_svg(records, latencies=report["latencies"]))
    drawn: dict[str, float] = defaultdict(float)
    for band in root.iter("{http://www.w3.org/2000/svg}rect"):
        if "data-state" in band.attrib:
            drawn[band.attrib["data-state"]] += float(band.attrib["data-seconds"])
    assert dict(drawn) == pytest.approx(dwell, abs=1e-5)
    marks = [
        el.attrib["data-mark"]
        for el in root.iter("{http://www.w3.org/2000/svg}line")
        if "data-mark" in el.attrib
    ]
    assert marks.count("turn") == 2
    assert marks.count("barge-in") == sum(1 for r in timeline if r["trigger"] == "interrupted") == 1


async def test_the_worker_serves_the_session_metrics_on_its_metrics_port(
    tmp_path: Path, backend: Backend
) -> None:
    """livekit's own metrics endpoint, in the worker, shows voicefsm's metric families."""
    port = free_port()
    settings = load_settings(spool_path=tmp_path / "spool.sqlite3", backend_url=backend.url)
    scenario = Scenario(turns=[Turn(user="Hello", pause_ms=100)])
    run = asyncio.create_task(
        simulate(scenario, settings, metrics=process_metrics(), metrics_port=port)
    )
    page = ""
    async with httpx.AsyncClient() as http:
        while not run.done() and "voicefsm_transitions_total{" not in page:
            with contextlib.suppress(httpx.TransportError):
                page = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            await asyncio.sleep(0.2)
    await run
    assert (
        'voicefsm_transitions_total{dest="loading_context",source="joining",trigger="joined"}'
        in page
    )
    assert "voicefsm_sessions{" in page
    assert "conversation_id" not in page  # no high-cardinality labels


async def test_a_tool_call_and_a_hook_show_in_the_metrics_and_as_a_span_under_its_state(
    tmp_path: Path, backend: Backend
) -> None:
    exporter, provider, registry = observers()
    settings = load_settings(spool_path=tmp_path / "spool.sqlite3", backend_url=backend.url)
    booking = {"day": "Friday", "time": "20:00", "people": 2}
    scenario = Scenario(
        turns=[
            Turn(
                user="Book Friday at eight for two",
                pause_ms=100,
                tools=[ToolStep(name="book_table", arguments=booking)],
            )
        ],
        end="participant_left",
    )
    await simulate(
        scenario,
        settings,
        metrics=PrometheusMetrics(registry),
        tracer=provider.get_tracer("t"),
        agent=BistroAgent,
    )

    count = registry.get_sample_value(
        "voicefsm_tool_call_seconds_count", {"tool": "book_table", "outcome": "ok"}
    )
    assert count == 1
    hooks = registry.get_sample_value(
        "voicefsm_hook_runs_total", {"hook": "file_call_note", "outcome": "ok"}
    )
    assert hooks == 1
    spans = exporter.get_finished_spans()
    [tool] = [s for s in spans if s.name == "voicefsm.tool.book_table"]
    parent = next(s for s in spans if tool.parent and s.context.span_id == tool.parent.span_id)
    assert parent.name == "voicefsm.state.thinking"
    assert tool.attributes["voicefsm.tool.outcome"] == "ok"

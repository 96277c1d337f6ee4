"""Figures, metrics, spans and the timeline picture, from lifecycles driven in isolation."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider, sampling
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from trials.stubs.threaded import serve_app
from trials.support import event
from voicefsm.cli import main
from voicefsm.lifecycle import (
    Joined,
    Lifecycle,
    ReplyStarted,
    Resumed,
    ToolCall,
    ToolOutcome,
    Trigger,
    UserTurnCompleted,
)
from voicefsm.observability import figures, picture
from voicefsm.observability.outbox_gauges import OutboxGauges, outbox_gauges
from voicefsm.observability.prometheus import PrometheusMetrics
from voicefsm.observability.tracing import SessionTracer, configure_from_env
from voicefsm.persistence.outbox import Outbox
from voicefsm.testing import RecordingEffects

SVG = "{http://www.w3.org/2000/svg}"


def conversation(lifecycle: Lifecycle) -> None:
    """Joined, greeted, two turns (the second cut off), hang-up, persisted: a clock tick each."""
    for trigger, data in [
        (Trigger.JOINED, {}),
        (Trigger.CONTEXT_LOADED, {}),
        (Trigger.GREETED, {"turn": 0}),
        (Trigger.USER_TURN_COMPLETED, {"text": "one"}),
        (Trigger.REPLY_STARTED, {"turn": 1}),
        (Trigger.REPLY_FINISHED, {"turn": 1}),
        (Trigger.USER_TURN_COMPLETED, {"text": "two"}),
        (Trigger.REPLY_STARTED, {"turn": 2}),
        (Trigger.INTERRUPTED, {"turn": 2}),
        (Trigger.HANG_UP, {}),
        (Trigger.PERSISTED, {}),
    ]:
        lifecycle.fire_named(trigger, **data)


def ticking() -> Lifecycle:
    ticks = count()
    return Lifecycle(RecordingEffects(), clock=lambda: float(next(ticks)) * 0.5)


def records_of(lifecycle: Lifecycle) -> list[dict[str, object]]:
    return [json.loads(line) for line in lifecycle.timeline.to_jsonl().splitlines()]


def test_dwell_and_turn_figures_come_from_the_timeline() -> None:
    lifecycle = ticking()
    conversation(lifecycle)
    records = records_of(lifecycle)
    dwell = figures.dwell_by_state(records)
    assert dwell == {
        "joining": 0.5,
        "loading_context": 0.5,
        "greeting": 0.5,
        "listening": 1.5,
        "thinking": 1.0,
        "speaking": 1.0,
        "persisting": 0.5,
        "exiting": 0.0,
    }
    assert [
        (f.turn, f.thinking_s, f.speaking_s, f.interrupted) for f in figures.turn_figures(records)
    ] == [
        (1, 0.5, 0.5, False),
        (2, 0.5, 0.5, True),
    ]
    assert figures.transition_counts(records)[("listening", "user_turn_completed", "thinking")] == 2


def test_metrics_count_transitions_dwell_refusals_and_live_sessions() -> None:
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    lifecycle = ticking()
    metrics.attach(lifecycle)
    assert registry.get_sample_value("voicefsm_sessions", {"state": "joining"}) == 1
    conversation(lifecycle)
    lifecycle.fire_named("no_such_trigger_" + "x" * 50)  # must not become a label value

    def value(name: str, labels: dict[str, str] | None = None) -> float:
        return registry.get_sample_value(name, labels or {}) or 0.0

    records = records_of(lifecycle)
    for state, seconds in figures.dwell_by_state(records).items():
        if state != "exiting":
            assert value("voicefsm_state_dwell_seconds_sum", {"state": state}) == pytest.approx(
                seconds
            )
    assert (
        value(
            "voicefsm_transitions_total",
            {"source": "speaking", "dest": "listening", "trigger": "interrupted"},
        )
        == 1
    )
    assert (
        value(
            "voicefsm_refused_triggers_total",
            {"state": "exiting", "trigger": "unknown", "outcome": "unknown"},
        )
        == 1
    )
    assert all(value("voicefsm_sessions", {"state": s}) == 0 for s in picture.COLOURS)
    metrics.turn(0.7, 0.15, None)
    assert value("voicefsm_turn_latency_seconds_count", {"stage": "e2e"}) == 1
    assert value("voicefsm_turn_latency_seconds_count", {"stage": "tts_ttfb"}) == 0


def test_spans_per_session_and_state_nest_under_the_current_span() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    lifecycle = ticking()
    with tracer.start_as_current_span("livekit.job") as outer:
        SessionTracer(
            lifecycle, session_id="s1", conversation_id="c1", tracer=tracer, clock=lambda: 0.0
        )
    conversation(lifecycle)

    spans = {
        (span.name, span.attributes.get("voicefsm.turn")): span
        for span in exporter.get_finished_spans()
    }
    session = spans[("voicefsm.session", None)]
    assert session.parent is not None
    assert session.parent.span_id == outer.get_span_context().span_id
    assert session.attributes["voicefsm.conversation_id"] == "c1"
    states = [s for s in exporter.get_finished_spans() if s.name.startswith("voicefsm.state.")]
    assert len(states) == len(lifecycle.timeline) + 1  # every stay, exiting included
    assert all(s.parent is not None and s.parent.span_id == session.context.span_id for s in states)
    # The spans carry the lifecycle's own times: 0.5 s a transition on the ticking clock.
    joining = next(s for s in states if s.name == "voicefsm.state.joining")
    assert (joining.end_time - joining.start_time) == 500_000_000
    cut = spans[("voicefsm.state.speaking", 2)]
    assert (cut.attributes["voicefsm.trigger"], cut.attributes["voicefsm.exit_trigger"]) == (
        "reply_started",
        "interrupted",
    )


def test_a_session_not_recorded_makes_no_span_per_transition() -> None:
    # Sampled out (or no SDK at all): nothing under the session span is recorded either, so
    # the voice path must not pay two no-op spans per transition.
    started: list[str] = []
    provider = TracerProvider(sampler=sampling.ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    sdk_tracer = provider.get_tracer("test")

    class Counting(trace.NoOpTracer):
        def start_span(self, name: str, *args: Any, **kwargs: Any) -> trace.Span:
            started.append(name)
            return sdk_tracer.start_span(name, *args, **kwargs)

    lifecycle = ticking()
    tracer = SessionTracer(lifecycle, session_id="s1", conversation_id="c1", tracer=Counting())
    conversation(lifecycle)
    tracer.tool_call(_tool("book_table"))
    assert started == ["voicefsm.session", "voicefsm.state.joining"]


def test_tracing_is_off_unless_the_otel_variables_ask(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert configure_from_env() is False


def test_the_picture_draws_every_stay_to_scale_and_marks_turns_and_barge_ins() -> None:
    lifecycle = ticking()
    conversation(lifecycle)
    records = records_of(lifecycle)
    root = ET.fromstring(
        picture.render_svg(records, latencies=[{"turn": 1, "e2e_latency_s": 0.42}])
    )

    bands = [r for r in root.iter(f"{SVG}rect") if "data-state" in r.attrib]
    assert [b.attrib["data-state"] for b in bands] == [s.state for s in figures.stays(records)]
    drawn: dict[str, float] = {}
    for band in bands:
        drawn[band.attrib["data-state"]] = drawn.get(band.attrib["data-state"], 0.0) + float(
            band.attrib["data-seconds"]
        )
    assert drawn == pytest.approx(figures.dwell_by_state(records))
    widths = {
        b.attrib["data-state"]: float(b.attrib["width"])
        for b in bands
        if b.attrib["data-state"] == "greeting"
    }
    assert widths["greeting"] == pytest.approx(0.5 / 5.5 * (picture.WIDTH - 40), rel=0.01)
    marks = [
        line.attrib["data-mark"] for line in root.iter(f"{SVG}line") if "data-mark" in line.attrib
    ]
    assert marks == ["turn", "turn", "barge-in"]
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "turn 1 · think 0.50s · e2e 0.42s" in texts


def test_the_timeline_command_writes_svg_and_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lifecycle = ticking()
    conversation(lifecycle)
    source = tmp_path / "s1.jsonl"
    source.write_text(lifecycle.timeline.to_jsonl())
    assert main(["timeline", str(source)]) == 0
    ET.fromstring((tmp_path / "s1.svg").read_text())
    assert main(["timeline", str(source), "-o", str(tmp_path / "s1.html")]) == 0
    page = (tmp_path / "s1.html").read_text()
    assert page.startswith("<!doctype html>")
    assert "<td>thinking</td><td>1.000</td>" in page


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json\n", "not a JSON object"),
        ('{"t": 1}\n', "needs t, from, to and trigger"),
        ("", "holds no transitions"),
    ],
)
def test_the_timeline_command_refuses_bad_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text(content)
    assert main(["timeline", str(source)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_the_standard_otel_variables_export_spans_over_otlp(tmp_path: Path) -> None:
    """In a fresh process (OpenTelemetry allows one provider per process), OTLP/HTTP export
    delivers the session's spans to a collector named by OTEL_EXPORTER_OTLP_ENDPOINT."""
    received: list[bytes] = []

    async def collect(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", collect)
    code = (
        "from opentelemetry import trace\n"
        "from voicefsm.lifecycle import Lifecycle, Trigger\n"
        "from voicefsm.observability.tracing import SessionTracer, configure_from_env\n"
        "from voicefsm.testing import RecordingEffects\n"
        "assert configure_from_env()\n"
        "lifecycle = Lifecycle(RecordingEffects())\n"
        "SessionTracer(lifecycle, session_id='s-otlp', conversation_id='c-otlp')\n"
        "for t in (Trigger.JOINED, Trigger.HANG_UP, Trigger.PERSISTED):\n"
        "    lifecycle.fire_named(t)\n"
        "trace.get_tracer_provider().shutdown()\n"
    )
    with serve_app(app) as url:
        env = {
            "PATH": "/usr/bin:/bin",
            "OTEL_EXPORTER_OTLP_ENDPOINT": url,
            "OTEL_SERVICE_NAME": "voicefsm-test",
        }
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    request = ExportTraceServiceRequest.FromString(b"".join(received))
    names = [
        span.name for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans
    ]
    assert "voicefsm.session" in names
    assert {
        "voicefsm.state.joining",
        "voicefsm.state.loading_context",
        "voicefsm.state.persisting",
    } <= set(names)
    service = {
        attr.value.string_value
        for rs in request.resource_spans
        for attr in rs.resource.attributes
        if attr.key == "service.name"
    }
    assert service == {"voicefsm-test"}


def _tool(name: str, outcome: ToolOutcome = ToolOutcome.OK) -> ToolCall:
    return ToolCall("call-1", name, 1, "{}", "done", outcome, 0.3)


def test_tool_latency_is_labelled_by_offered_tools_only() -> None:
    """A model naming a tool the agent never offered cannot mint a new label."""
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    offered = {"book_table"}
    metrics.tool_call(_tool("book_table"), offered)
    metrics.tool_call(_tool("drop_database", ToolOutcome.ERROR), offered)
    metrics.tool_call(_tool("drop_tables", ToolOutcome.ERROR), offered)

    def count(labels: dict[str, str]) -> float | None:
        return registry.get_sample_value("voicefsm_tool_call_seconds_count", labels)

    assert count({"tool": "book_table", "outcome": "ok"}) == 1
    assert count({"tool": "unknown", "outcome": "error"}) == 2
    assert count({"tool": "drop_database", "outcome": "error"}) is None


def test_a_tool_call_is_a_span_under_the_state_span_it_finished_in() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    lifecycle = ticking()
    tracer = SessionTracer(
        lifecycle, session_id="s1", conversation_id="c1", tracer=provider.get_tracer("t")
    )
    for data in (Joined(), Resumed(), UserTurnCompleted("Book it")):
        lifecycle.fire(data)
    tracer.tool_call(_tool("book_table"))
    lifecycle.fire(ReplyStarted(1))

    [tool] = [s for s in exporter.get_finished_spans() if s.name == "voicefsm.tool.book_table"]
    [thinking] = [s for s in exporter.get_finished_spans() if s.name == "voicefsm.state.thinking"]
    assert tool.parent is not None
    assert tool.parent.span_id == thinking.context.span_id
    assert (tool.attributes["voicefsm.tool.outcome"], tool.attributes["voicefsm.turn"]) == ("ok", 1)
    assert abs((tool.end_time - tool.start_time) - 300_000_000) < 1_000


async def test_the_outbox_gauges_follow_the_spool_with_one_refresher_for_every_session(
    spool_path: Path,
) -> None:
    """Pending writes show in Prometheus while sessions run; however many sessions are watched,
    one task per loop reads the spool, and it ends with the last session."""
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    gauges = OutboxGauges(metrics, period_s=0.01)
    outboxes = [Outbox(spool_path, None) for _ in range(3)]
    for outbox in outboxes:
        await outbox.start()
    stops = [gauges.watch(outbox) for outbox in outboxes]
    refreshers = [t for t in asyncio.all_tasks() if t.get_name() == "voicefsm-outbox-gauges"]
    assert len(refreshers) == 1
    for i, outbox in enumerate(outboxes):
        outbox.submit_event(f"c{i}", event(i, session=f"s{i}"))

    async def pending() -> float | None:
        return registry.get_sample_value("voicefsm_outbox_pending")

    async with asyncio.timeout(10):
        while await pending() != 3:
            await asyncio.sleep(0.01)
    assert registry.get_sample_value("voicefsm_outbox_oldest_age_seconds") is not None
    for stop in stops:
        stop()
    await asyncio.gather(*refreshers, return_exceptions=True)
    assert all(task.done() for task in refreshers)
    for outbox in outboxes:
        await outbox.aclose()


async def test_each_loop_and_registry_has_its_own_outbox_gauges() -> None:
    first, second = PrometheusMetrics(CollectorRegistry()), PrometheusMetrics(CollectorRegistry())
    assert outbox_gauges(first) is outbox_gauges(first)
    assert outbox_gauges(first) is not outbox_gauges(second)

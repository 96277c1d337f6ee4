"""Prometheus metrics for voice sessions. Labels are low-cardinality by construction: states,
triggers, outcomes and latency stages, never conversation or session ids.

=========================================  =========  ==========================================
name                                       type       labels
=========================================  =========  ==========================================
voicefsm_state_dwell_seconds               histogram  state
voicefsm_transitions_total                 counter    source, dest, trigger
voicefsm_refused_triggers_total            counter    state, trigger, outcome
voicefsm_sessions                          gauge      state (sessions in each state right now)
voicefsm_turn_latency_seconds              histogram  stage (e2e, llm_ttft, tts_ttfb)
voicefsm_outbox_pending                    gauge
voicefsm_outbox_oldest_age_seconds         gauge
voicefsm_outbox_delivered_total            counter
voicefsm_outbox_dead_total                 counter
voicefsm_outbox_refused_total              counter    (spool full)
voicefsm_tool_call_seconds                 histogram  tool (offered names only), outcome
voicefsm_hook_runs_total                   counter    hook (method names), outcome
voicefsm_flow_node_dwell_seconds           histogram  flow, node (declared names only)
voicefsm_flow_node_changes_total           counter    flow, edge, by (declared names only)
=========================================  =========  ==========================================
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.registry import REGISTRY

from voicefsm.flows import NodeChange
from voicefsm.lifecycle import Lifecycle, Outcome, Refusal, State, TimelineEntry, ToolCall, Trigger

DWELL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
TOOL_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
LATENCY_BUCKETS = (0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
_KNOWN_TRIGGERS = {trigger.value for trigger in Trigger}


class OutboxFigures(Protocol):
    """A session's final outbox figures (``voicefsm.persistence.OutboxStats`` has them)."""

    @property
    def delivered(self) -> int: ...
    @property
    def dead(self) -> int: ...
    @property
    def refused(self) -> int: ...
    @property
    def unspooled(self) -> int: ...
    @property
    def lost(self) -> int: ...
    @property
    def pending(self) -> int: ...
    @property
    def oldest_age_s(self) -> float | None: ...


class PrometheusMetrics:
    """The metric families, registered once per registry; attach each session's lifecycle."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.dwell = Histogram(
            "voicefsm_state_dwell_seconds",
            "Time a session spent in a lifecycle state, one observation per stay.",
            ["state"],
            buckets=DWELL_BUCKETS,
            registry=registry,
        )
        self.transitions = Counter(
            "voicefsm_transitions",
            "Lifecycle transitions taken.",
            ["source", "dest", "trigger"],
            registry=registry,
        )
        self.refused = Counter(
            "voicefsm_refused_triggers",
            "Triggers a lifecycle refused (illegal, stale, guarded, unknown).",
            ["state", "trigger", "outcome"],
            registry=registry,
        )
        self.sessions = Gauge(
            "voicefsm_sessions",
            "Sessions in each lifecycle state right now.",
            ["state"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.turn_latency = Histogram(
            "voicefsm_turn_latency_seconds",
            "Per-turn latency: end of user turn to first agent audio (e2e), LLM time to first "
            "token, TTS time to first byte.",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.outbox_pending = Gauge(
            "voicefsm_outbox_pending",
            "Writes in the spool not yet delivered.",
            registry=registry,
            multiprocess_mode="max",
        )
        self.outbox_oldest_age = Gauge(
            "voicefsm_outbox_oldest_age_seconds",
            "Age of the oldest undelivered write.",
            registry=registry,
            multiprocess_mode="max",
        )
        self.outbox_delivered = Counter(
            "voicefsm_outbox_delivered", "Writes delivered to the backend.", registry=registry
        )
        self.outbox_dead = Counter(
            "voicefsm_outbox_dead", "Writes the backend refused for good.", registry=registry
        )
        self.tool_calls = Histogram(
            "voicefsm_tool_call_seconds",
            "Tool call durations by tool and outcome (a name the agent does not offer is "
            "counted as 'unknown': labels stay bounded whatever the model says).",
            ["tool", "outcome"],
            buckets=TOOL_BUCKETS,
            registry=registry,
        )
        self.hook_runs = Counter(
            "voicefsm_hook_runs",
            "Agent hook runs by hook and outcome (ok, failed, timeout, stalled).",
            ["hook", "outcome"],
            registry=registry,
        )
        self.node_dwell = Histogram(
            "voicefsm_flow_node_dwell_seconds",
            "Time a conversation spent in a flow's node, one observation per stay (labels: the "
            "flow's and node's declared names).",
            ["flow", "node"],
            buckets=DWELL_BUCKETS,
            registry=registry,
        )
        self.node_changes = Counter(
            "voicefsm_flow_node_changes",
            "Flow node changes, by the edge taken and who took it (model, code, auto).",
            ["flow", "edge", "by"],
            registry=registry,
        )
        self.outbox_refused = Counter(
            "voicefsm_outbox_refused",
            "Writes refused because the spool was full.",
            registry=registry,
        )
        self.outbox_unspooled = Counter(
            "voicefsm_outbox_unspooled",
            "Writes the spool could not take (disk full or failing, spool unusable), "
            "delivered directly from memory: never acknowledged.",
            registry=registry,
        )
        self.outbox_lost = Counter(
            "voicefsm_outbox_lost",
            "Unspooled writes neither spooled nor delivered (no backend, or closed first).",
            registry=registry,
        )

    def _labelled(self, family: Any, *values: str) -> Any:  # noqa: ANN401 (prometheus' own types)
        """``family.labels(*values)``, looked up once: label values are bounded by
        construction, and ``labels`` validates and locks at every call (four per transition)."""
        key = (id(family), values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(*values)
        return child

    def attach(self, lifecycle: Lifecycle) -> None:
        """Count this session from now on (it is in ``joining``)."""
        entered = {"t": 0.0}
        labelled = self._labelled
        labelled(self.sessions, State.JOINING).inc()

        def on_transition(entry: TimelineEntry) -> None:
            # States and triggers are StrEnums: the members are their label values.
            source, dest = entry.source, entry.dest
            labelled(self.dwell, source).observe(entry.t - entered["t"])
            labelled(self.transitions, source, dest, entry.trigger).inc()
            labelled(self.sessions, source).dec()
            if dest is not State.EXITING:  # an exited session is no longer counted
                labelled(self.sessions, dest).inc()
            entered["t"] = entry.t

        def on_refusal(refusal: Refusal) -> None:
            trigger = refusal.trigger if refusal.trigger in _KNOWN_TRIGGERS else "unknown"
            outcome = refusal.outcome.value if isinstance(refusal.outcome, Outcome) else "unknown"
            self.refused.labels(refusal.state.value, trigger, outcome).inc()

        lifecycle.subscribe(on_transition)
        lifecycle.subscribe_refusals(on_refusal)

    def turn(self, e2e_s: float | None, llm_ttft_s: float | None, tts_ttfb_s: float | None) -> None:
        for stage, value in (("e2e", e2e_s), ("llm_ttft", llm_ttft_s), ("tts_ttfb", tts_ttfb_s)):
            if value is not None:
                self._labelled(self.turn_latency, stage).observe(value)

    def tool_call(self, call: ToolCall, offered: Collection[str]) -> None:
        name = call.name if call.name in offered else "unknown"
        self._labelled(self.tool_calls, name, call.outcome.value).observe(call.duration_s)

    def hook_run(self, hook: str, outcome: str) -> None:
        self._labelled(self.hook_runs, hook, outcome).inc()

    def node_change(self, change: NodeChange) -> None:
        """A flow moved: the stay in the node it left, and the edge."""
        self._labelled(self.node_dwell, change.flow, change.source).observe(change.dwell_s)
        self._labelled(self.node_changes, change.flow, change.edge, change.by).inc()

    def node_left(self, flow: str, node: str, seconds: float) -> None:
        """The call ended in ``node``: its last stay."""
        self._labelled(self.node_dwell, flow, node).observe(max(0.0, seconds))

    def outbox(self, pending: int, oldest_age_s: float | None) -> None:
        self.outbox_pending.set(pending)
        self.outbox_oldest_age.set(oldest_age_s or 0.0)

    def outbox_final(self, stats: OutboxFigures) -> None:
        self.outbox_delivered.inc(stats.delivered)
        self.outbox_dead.inc(stats.dead)
        self.outbox_refused.inc(stats.refused)
        self.outbox_unspooled.inc(stats.unspooled)
        self.outbox_lost.inc(stats.lost)
        self.outbox(stats.pending, stats.oldest_age_s)

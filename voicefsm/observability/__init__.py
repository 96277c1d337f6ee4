"""Seeing sessions: per-state and per-turn figures, OpenTelemetry spans, Prometheus metrics, and
a picture of a session's timeline."""

"""Servers that stand in for what no machine here reaches, each on 127.0.0.1 and speaking the
real protocol: the voice vendors, LiveKit's room service and console, and a fault proxy in
front of the real backend."""

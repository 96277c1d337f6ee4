"""Offline simulation of whole sessions through the production worker path, as a test tool:
scenarios (scripted, model-played or exported from stored calls) run in real time or fast,
one or a suite at a time, and checked against what they expect."""

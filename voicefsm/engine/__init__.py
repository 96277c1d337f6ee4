"""The engine that runs an agent: the lifecycle over livekit's ``AgentSession``, the call's
record and writes, the job entrypoint and the worker. Assemble a call with
:func:`~voicefsm.engine.assembly.open_session`; the rest is private to voicefsm."""

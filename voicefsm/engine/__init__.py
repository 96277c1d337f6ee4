"""The call engine: one call, the lifecycle driving livekit's ``AgentSession``.

It owns everything between a started ``AgentSession`` and the outbox: the control loop
(:mod:`.control`: the lifecycle and its effects), the pipeline that speaks, the session's writes
and in-memory record, and the parts that turn what livekit, the agent and the room report into
triggers. Each part is given the parts it talks to, by name, in one place
(:class:`~voicefsm.engine.session.VoiceSession`); none knows about LiveKit jobs, rooms' server
APIs or the worker (:mod:`voicefsm.worker`). Assemble a call with
:func:`~voicefsm.engine.assembly.open_session`; the rest is private to voicefsm.
"""

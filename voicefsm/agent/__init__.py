"""The livekit glue: the lifecycle driving a real ``AgentSession``, and the worker around it."""

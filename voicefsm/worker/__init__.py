"""The worker: how calls become LiveKit jobs, and how a job becomes a call.

It owns the LiveKit side of running an agent: the ``AgentServer`` and ``build_server``
(:mod:`.server`), the job entrypoint that joins the room and runs one call through the engine
(:mod:`.entrypoint`), finding the user's agent (``--agent``, :mod:`.loading`), the room's audio
and chat (:mod:`.room_io`), the room's memory of its conversation (:mod:`.room_memory`),
LiveKit's RoomService (:mod:`.room_service`) and the interpreter guard. The engine below it
never imports it; the command line and the simulator above it do.
"""

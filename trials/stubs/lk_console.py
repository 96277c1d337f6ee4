"""A stand-in for the ``lk`` CLI's console: the TCP server that
``python -m livekit.agents console AGENT --connect-addr HOST:PORT`` connects to.

livekit's own ``RemoteSession`` speaks the protocol from this side (4-byte big-endian length,
then an ``AgentSessionMessage``), over the accepted connection, so a test drives the console as
the ``lk`` CLI would: turn audio off (text mode) and send typed turns.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from livekit.agents.voice.remote_session import RemoteSession, SessionTransport
from livekit.protocol.agent_pb import agent_session as agent_pb

_HEADER = struct.Struct(">I")


class AcceptedTransport(SessionTransport):
    """The console's connection, seen from the ``lk`` side."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def start(self) -> None:
        return  # already connected: the agent dialled us

    async def send_message(self, msg: agent_pb.AgentSessionMessage) -> None:
        data = msg.SerializeToString()
        self._writer.write(_HEADER.pack(len(data)) + data)
        await self._writer.drain()

    async def close(self) -> None:
        self._writer.close()

    def __aiter__(self) -> AsyncIterator[agent_pb.AgentSessionMessage]:
        return self

    async def __anext__(self) -> agent_pb.AgentSessionMessage:
        try:
            (length,) = _HEADER.unpack(await self._reader.readexactly(_HEADER.size))
            data = await self._reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            raise StopAsyncIteration from None
        message = agent_pb.AgentSessionMessage()
        message.ParseFromString(data)
        return message


class ConsoleStub:
    """Listens on 127.0.0.1; :meth:`session` waits for the agent's console to connect."""

    def __init__(self) -> None:
        self.port = 0
        self._accepted: asyncio.Queue[AcceptedTransport] = asyncio.Queue()

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await self._accepted.put(AcceptedTransport(reader, writer))

    @asynccontextmanager
    async def session(self, timeout: float) -> AsyncIterator[RemoteSession]:
        """The connected console in text mode (no audio in or out), as ``lk console`` in text
        mode leaves it."""
        transport = await asyncio.wait_for(self._accepted.get(), timeout)
        remote = RemoteSession(transport)
        await remote.start()
        try:
            await remote.wait_for_ready(timeout=timeout)
            await remote.update_io(input_audio_enabled=False, output_audio_enabled=False)
            yield remote
        finally:
            await remote.aclose()


@asynccontextmanager
async def lk_console() -> AsyncIterator[ConsoleStub]:
    stub = ConsoleStub()
    server = await asyncio.start_server(stub._on_connection, "127.0.0.1", 0)
    stub.port = server.sockets[0].getsockname()[1]
    try:
        yield stub
    finally:
        server.close()
        await server.wait_closed()

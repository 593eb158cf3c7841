"""A client that sends but never reads is held by TCP, not by the gateway's memory."""

from __future__ import annotations

import asyncio

import websockets
from websockets.frames import Frame, Opcode

from tests.e2e import handlers
from tests.e2e.conftest import RunningGateway
from tests.e2e.test_wire import raw_connection, read_response, upgrade_head
from wsgate.server.connection import HIGH_WATER
from wsgate.server.session import Session


# uvloop reads up to 256 KiB at a time, and the pongs of one read are written before
# reading stops: the most a connection may hold above the high-water mark.
_ONE_READ = 256 * 1024


async def test_a_client_that_pings_and_never_reads_stops_being_read(
    gateway: RunningGateway,
) -> None:
    ping = Frame(Opcode.PING, b"p" * 125).serialize(mask=True, extensions=[])
    batch = ping * 512  # 67 KB
    async with raw_connection(gateway.port) as (reader, writer):
        writer.write(upgrade_head())
        assert (await read_response(reader)).status == 101
        connection_id = handlers.events_for("$connect")[0]["requestContext"]["connectionId"]
        session = gateway.server.gateway.registry.local(connection_id)
        assert isinstance(session, Session)
        # The client's StreamReader stops reading past 128 KiB of its own. Until the
        # gateway stops reading too, the client's writes go through; then they pile up
        # in the client's own buffer. 256 MB sent would mean the gateway never stopped.
        sent = 0
        while writer.transport.get_write_buffer_size() < 1024 * 1024:
            writer.write(batch)
            sent += len(batch)
            assert sent < 256 * 1024 * 1024, "the gateway never stopped reading"
            await asyncio.sleep(0)
        await asyncio.sleep(0.2)
        held = session.ws.buffered
        assert held <= HIGH_WATER + _ONE_READ, f"{held} bytes of pongs held"
        # Nobody else notices.
        async with websockets.connect(gateway.ws_url()) as bystander:
            await bystander.send('{"action": "echo", "n": 1}')
            assert await asyncio.wait_for(bystander.recv(), 5) == '{"action": "echo", "n": 1}'
        assert session.ws.buffered == held  # still not read: nothing more was written

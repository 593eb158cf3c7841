"""What a client can make the gateway hold is bounded: bytes it does not read, frames of one
message."""

from __future__ import annotations

import asyncio
import struct

import websockets
from websockets.frames import Frame, Opcode

from tests.e2e import handlers
from tests.e2e.conftest import GatewayFactory, RunningGateway, wait_for
from tests.e2e.test_wire import (
    raw_connection,
    read_eof,
    read_frame,
    read_response,
    upgrade_head,
)
from wsgate.server.connection import HIGH_WATER
from wsgate.server.session import Session


EVENT_LOOPS = ("asyncio", "uvloop")
"""Each test on both: ``wsgate serve`` runs on uvloop, whose sockets behave otherwise."""


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


async def test_a_message_in_too_many_fragments_closes_the_connection_with_1009(
    gateway_factory: GatewayFactory,
) -> None:
    """Empty continuation frames add nothing to a message's length; their number is
    bounded instead (api.max_fragments)."""
    running = await gateway_factory(api={"max_fragments": 8})
    first = Frame(Opcode.TEXT, b"{", fin=False).serialize(mask=True, extensions=[])
    empty = Frame(Opcode.CONT, b"", fin=False).serialize(mask=True, extensions=[])
    last = Frame(Opcode.CONT, b"}", fin=True).serialize(mask=True, extensions=[])
    async with raw_connection(running.port) as (reader, writer):
        writer.write(upgrade_head())
        assert (await read_response(reader)).status == 101
        # Eight frames in all is allowed...
        writer.write(first + empty * 6 + last)
        assert await read_frame(reader) == (Opcode.TEXT.value, b"default:{}")
        # ...nine is not.
        writer.write(first + empty * 20)
        opcode, payload = await read_frame(reader)
        assert opcode == Opcode.CLOSE.value
        assert payload[:2] == struct.pack("!H", 1009)
        assert await read_eof(reader) == b""
    await wait_for(lambda: len(handlers.events_for("$disconnect")) == 1)
    assert handlers.events_for("$disconnect")[0]["requestContext"]["disconnectStatusCode"] == 1009


async def test_a_two_way_reply_over_the_message_limit_is_an_error_frame(
    gateway_factory: GatewayFactory,
) -> None:
    """Replies are held to the 128 KB message limit as POSTs are (AWS's quota), counted in
    bytes, not characters."""
    running = await gateway_factory(
        routes={"sized": {"handler": "tests.e2e.handlers:sized", "response": True}}
    )
    async with websockets.connect(running.ws_url(), max_size=None) as ws:
        await ws.send('{"action": "sized", "size": 131072}')
        reply = await asyncio.wait_for(ws.recv(), 5)
        assert isinstance(reply, str) and len(reply.encode()) == 131072
        await ws.send('{"action": "sized", "size": 131073}')
        failure = await asyncio.wait_for(ws.recv(), 5)
        assert isinstance(failure, str) and '"message": "Internal server error"' in failure
        # The connection carries on.
        await ws.send('{"action": "sized", "size": 3}')
        assert await asyncio.wait_for(ws.recv(), 5) == "éx"

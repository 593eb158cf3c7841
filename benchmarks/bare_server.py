"""The ceiling: wsgate's own wire layer on uvloop, with no gateway logic at all.

An asyncio protocol that reads the upgrade request with ``wsgate.core.upgrade``, answers
101 without any check, parses frames with ``wsgate.core.framing`` and writes every text
message straight back from ``data_received``: no task, no event, no handler. It is what
the layer wsgate's connections run on can do at all, measured beside the raw aiohttp
server (the stack wsgate serves HTTP with) so that both ratios can be read.

Run: ``python -m benchmarks.bare_server --port 9000``; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import cast

from wsgate.core.frames import OPCODE_CLOSE, OPCODE_PONG, OPCODE_TEXT, encode_frame
from wsgate.core.framing import Close, FrameParser, Ping, ProtocolError
from wsgate.core.upgrade import parse_head, switching_protocols


__all__ = ["main"]

_END = b"\r\n\r\n"


class BareEcho(asyncio.Protocol):
    """Upgrade anything, then echo text messages."""

    def __init__(self) -> None:
        self.buffer = b""
        self.parser: FrameParser | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.parser is None:
            self.buffer += data
            end = self.buffer.find(_END)
            if end < 0:
                return
            head = parse_head(self.buffer[:end])
            key = head.header("sec-websocket-key") or ""
            self.transport.write(switching_protocols(key, None))
            self.parser = FrameParser(32 * 1024, 128 * 1024)
            data, self.buffer = self.buffer[end + len(_END) :], b""
            if not data:
                return
        try:
            events = self.parser.feed(data)
        except ProtocolError:
            self.transport.close()
            return
        for event in events:
            if type(event) is str:
                self.transport.write(encode_frame(OPCODE_TEXT, event.encode()))
            elif isinstance(event, Ping):
                self.transport.write(encode_frame(OPCODE_PONG, event.payload))
            elif isinstance(event, Close):
                self.transport.write(encode_frame(OPCODE_CLOSE, (1000).to_bytes(2, "big")))
                self.transport.close()
                return


async def serve(host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(BareEcho, host, port, reuse_address=True, backlog=4096)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"bare server on {host}:{port}", flush=True)
    await stop.wait()
    server.close()


def main() -> None:
    """Parse the command line and serve on uvloop, as ``wsgate serve`` does."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stage", default="dev", help="accepted for symmetry; any path upgrades")
    args = parser.parse_args()
    import uvloop

    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()

"""The baseline server: a bare ``websockets`` server that only holds connections and broadcasts.

``python -m bench.bare_server`` listens on a free loopback port, prints ``{"event": "listening",
"url"}``, and answers ``broadcast`` on stdin by sending one message to every open connection with
``websockets.broadcast`` (``{"event": "broadcast", "count"}``). Same settings as the local gateway
where they matter: no compression, no server pings.
"""
from __future__ import annotations

import asyncio
import sys

from websockets.asyncio.server import ServerConnection, broadcast, serve

from .procs import emit

MESSAGE = '{"type":"bench"}'


async def main() -> None:
    connections: set[ServerConnection] = set()

    async def hold(ws: ServerConnection) -> None:
        connections.add(ws)
        try:
            await ws.wait_closed()
        finally:
            connections.discard(ws)

    async with serve(hold, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        emit(event="listening", url=f"ws://127.0.0.1:{port}/prod")
        while True:
            line = (await asyncio.to_thread(sys.stdin.readline)).strip()
            if line == "broadcast":
                broadcast(connections, MESSAGE)
                emit(event="broadcast", count=len(connections))
            elif not line or line == "stop":
                return


if __name__ == "__main__":
    asyncio.run(main())

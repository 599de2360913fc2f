"""The node's own listening sockets (`aonode/http/_workers.py`): connections accepted on them
get TCP_NODELAY, as on sockets asyncio makes itself. Without it every kept-alive answer whose
head and body are written apart waited for the client's delayed ACK (~40 ms, Nagle)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from aonode.http._workers import _listener, bind


async def _accepted_nodelay(listening: socket.socket) -> int:
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await asyncio.get_running_loop().create_server(Probe, sock=listening)
    try:
        port = listening.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return await asyncio.wait_for(accepted, 10)
        finally:
            writer.close()
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("kind", ["one worker (the reserved socket)", "a worker's own listener"])
def test_accepted_connections_have_tcp_nodelay(kind: str) -> None:
    reserved = bind("127.0.0.1", 0)
    listening = reserved if kind.startswith("one") else _listener(reserved)
    try:
        assert asyncio.run(_accepted_nodelay(listening)) != 0
    finally:
        listening.close()
        reserved.close()

"""Raw HTTP/1.1 for the load generators of the HTTP benchmarks (`http.py`, `payments.py`,
`scale.py`): requests encoded once as bytes and responses read off an asyncio stream, so the
client costs nearly nothing beside the nodes it measures. Not a benchmark itself."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping


def raw_request(method: str, path: str, port: int, headers: Mapping[str, str | bytes] | None = None,
                body: bytes = b"") -> bytes:
    """One HTTP/1.1 request as bytes; `content-length` is set from `body`."""
    lines = [f"{method} {path} HTTP/1.1".encode(), f"host: 127.0.0.1:{port}".encode()]
    for name, value in (headers or {}).items():
        if name.lower() != "content-length":
            lines.append(name.encode() + b": " + (value if isinstance(value, bytes) else value.encode("latin-1")))
    lines.append(f"content-length: {len(body)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def read_status(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response (content-length or chunked) and return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status

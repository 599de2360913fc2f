"""uvicorn's HTTP/1.1 protocol with the time and count limits a public node needs.

uvicorn bounds the size of a request head and the idle time between requests, but not the
time a client takes to send a request: a head or a body that never finishes holds its
connection (and, for a body, a task) for as long as the client likes, and a chunked body
that announces 2^80 bytes is waited for. `guarded_protocol(limits)` makes a subclass that:

* closes a connection that sends nothing for `idle_timeout` (uvicorn's keep-alive timer, now
  armed from the moment a connection opens, not only after an answer);
* answers `408` and closes when a request head is not complete `header_timeout` seconds
  after its first byte;
* answers `408` and closes when a body stalls for `body_idle_timeout` seconds, or is not
  complete `body_timeout` seconds after its head;
* answers `413` and closes as soon as a chunk announces more than `max_body` bytes;
* answers `429` and closes a connection beyond `max_connections_per_client` open ones from
  one address;
* answers `400` when the client closes its side (a half-close) in the middle of a request
  head or before the body it announced is complete, instead of closing without a word.

Each answer is written straight to the transport (h11 is mid-request and cannot frame one)
with `connection: close`, its reason in the body. A connection refused mid-request (these
answers and h11's own 400 for a malformed or oversized head) closes by lingering: the answer
and a FIN go out, and what the client is still sending is read and dropped for up to
`LINGER_SECONDS` or `LINGER_BYTES`. Closing at once with unread data makes the kernel send a
reset, which can destroy the answer before the client reads it.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["LINGER_BYTES", "LINGER_SECONDS", "Limits", "guarded_protocol"]

LINGER_SECONDS = 2.0
LINGER_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """The limits, in seconds and bytes (see the module docstring)."""

    header_timeout: float
    body_idle_timeout: float
    body_timeout: float
    max_body: int
    max_connections_per_client: int


_PHRASES = {400: b"Bad Request", 408: b"Request Timeout", 413: b"Content Too Large", 429: b"Too Many Requests"}


def _refusal(status: int, reason: str) -> bytes:
    body = reason.encode()
    return (b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
            b"content-length: %d\r\n\r\n" % (status, _PHRASES[status], len(body))) + body


def guarded_protocol(limits: Limits) -> type[H11Protocol]:
    """An `H11Protocol` subclass enforcing `limits`; pass it to uvicorn as `http=`."""
    open_by_client: dict[str, int] = {}
    lock = threading.Lock()

    class GuardedH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _body_started: float = 0.0
        _counted: str | None = None
        _lingering: int = -1  # bytes dropped since the answer; -1 while not lingering

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            address = self.client[0] if self.client else ""
            with lock:
                count = open_by_client.get(address, 0) + 1
                open_by_client[address] = count
            self._counted = address
            if count > limits.max_connections_per_client:
                self._refuse(429, f"Too many open connections from {address}: at most "
                                  f"{limits.max_connections_per_client} at once (http_max_connections_per_client).")
                return
            # Idle until the first byte: uvicorn's keep-alive timer (`idle_timeout`) closes it.
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive,
                                                                self.timeout_keep_alive_handler)

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel()
            if self._counted is not None:
                with lock:
                    left = open_by_client.get(self._counted, 1) - 1
                    if left > 0:
                        open_by_client[self._counted] = left
                    else:
                        open_by_client.pop(self._counted, None)
                self._counted = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._lingering >= 0:
                self._lingering += len(data)
                if self._lingering > LINGER_BYTES:
                    self.transport.close()
                return
            waiting_for_head = self.conn.their_state is h11.IDLE
            super().data_received(data)
            if self.transport.is_closing():
                return
            state = self.conn.their_state
            if state is h11.SEND_BODY:
                # h11 keeps the size the current chunk announced; nothing bigger is waited for.
                announced = getattr(getattr(self.conn, "_reader", None), "_bytes_in_chunk", 0)
                if isinstance(announced, int) and announced > limits.max_body:
                    self._refuse(413, f"A chunk of the request body announces {announced} bytes; "
                                      f"the limit is {limits.max_body} (http_max_body).")
                    return
                if waiting_for_head:
                    self._body_started = self.loop.time()
                self._wait_for_body()
            elif state is h11.IDLE:
                if self._deadline is None:
                    self._wait_for_head()  # the head's first bytes: the clock starts, once
            else:
                self._cancel()

        def eof_received(self) -> bool | None:  # type: ignore[override]  # asyncio.Protocol allows a bool
            # The client ended its side mid-request (a body shorter than it announced, a head
            # cut off): a 400 that says so, not a silent close. The transport stays open for it.
            if self._lingering < 0 and not self.transport.is_closing():
                if self.conn.their_state is h11.SEND_BODY:
                    self._refuse(400, "The request ended before its body was complete: the connection "
                                      "was closed before the bytes the request announced arrived.")
                    return True
                if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:
                    self._refuse(400, "The request ended before its head was complete.")
                    return True
            return None

        def on_response_complete(self) -> None:
            self._cancel()
            super().on_response_complete()

        # -- timers -------------------------------------------------------------------------

        def _cancel(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _wait_for_head(self) -> None:
            self._cancel()
            self._deadline = self.loop.call_later(limits.header_timeout, self._head_timed_out)

        def _wait_for_body(self) -> None:
            self._cancel()
            left = limits.body_timeout - (self.loop.time() - self._body_started)
            self._deadline = self.loop.call_later(max(0.0, min(limits.body_idle_timeout, left)),
                                                  self._body_timed_out)

        def _head_timed_out(self) -> None:
            self._deadline = None
            if self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete):
                self._refuse(408, f"The request head was not complete within {limits.header_timeout:g} s "
                                  "of its first byte (http_header_timeout).")

        def _body_timed_out(self) -> None:
            self._deadline = None
            if self.conn.their_state is h11.SEND_BODY:
                self._refuse(408, f"The request body stalled or took too long: at most "
                                  f"{limits.body_idle_timeout:g} s between parts and {limits.body_timeout:g} s in all "
                                  "(http_body_idle_timeout, http_body_timeout).")

        def _refuse(self, status: int, reason: str) -> None:
            self._cancel()
            if self.cycle is not None and not self.cycle.response_complete:
                if getattr(self.cycle, "response_started", False):
                    self.transport.close()
                    return
                self.cycle.response_complete = True  # the app's own answer, if any, is not sent
            self.transport.write(_refusal(status, reason))
            self._linger()

        def send_400_response(self, msg: str) -> None:
            # uvicorn's answer to a head h11 refuses (malformed, or over h11_max_incomplete_event_size),
            # which would close at once.
            self.transport.write(_refusal(400, msg))
            self._linger()

        def _linger(self) -> None:
            if self._lingering >= 0 or self.transport.is_closing():
                return
            if not self.transport.can_write_eof():
                self.transport.close()
                return
            self._cancel()
            if self.timeout_keep_alive_task is not None:
                self.timeout_keep_alive_task.cancel()
                self.timeout_keep_alive_task = None
            self._lingering = 0
            self.transport.write_eof()
            self._deadline = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    GuardedH11Protocol.__name__ = "GuardedH11Protocol"
    return GuardedH11Protocol


def limits_from(opts: Any) -> Limits:
    """The `Limits` the node's options give (`aonode.core.options` names)."""
    from aonode.core import options

    return Limits(
        header_timeout=float(options.get(opts, "http_header_timeout")) / 1000,
        body_idle_timeout=float(options.get(opts, "http_body_idle_timeout")) / 1000,
        body_timeout=float(options.get(opts, "http_body_timeout")) / 1000,
        max_body=int(options.get(opts, "http_max_body")),
        max_connections_per_client=int(options.get(opts, "http_max_connections_per_client")),
    )

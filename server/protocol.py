"""uvicorn's h11 protocol with a deadline for each request's head (request line and headers).

uvicorn 0.55 arms its keep-alive timer only after a response and cancels it on every byte received,
so a client that connects and dribbles a header a byte at a time holds its connection forever
(slowloris). Here the deadline starts when the connection opens and after each response, is not
moved by incoming bytes, and is cancelled only once h11 has parsed the whole head.
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any, cast

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from server.settings import ApiSettings


def _timeout_response(timeout_s: float) -> bytes:
    """Return a complete ``408 Request Timeout`` with the ErrorBody JSON, closing the connection."""
    body = json.dumps(
        {
            "code": "RequestTimeout",
            "description": f"the request line and headers did not arrive within {timeout_s:g} s",
            "status": 408,
        }
    ).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class HeaderTimeoutProtocol(H11Protocol):
    """``H11Protocol`` closing connections whose request head is not complete within ``header_timeout_s``.

    A client that has sent part of a request gets a 408 JSON error before the connection is closed; an
    idle connection is just closed (as the keep-alive timeout would).
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        header_timeout_s: float = 10.0,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout_s = header_timeout_s
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Accept the connection and start the deadline for its first request head."""
        super().connection_made(transport)
        self._arm_header_deadline()

    def data_received(self, data: bytes) -> None:
        """Feed h11; the deadline stops once a whole head is parsed, and restarts when h11 waits for the next."""
        super().data_received(data)
        self._track_head()

    def on_response_complete(self) -> None:
        """Finish the response (maybe serving a pipelined request), then time the next request's head."""
        super().on_response_complete()
        self._track_head()

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the deadline along with the connection."""
        self._cancel_header_deadline()
        super().connection_lost(exc)

    def _track_head(self) -> None:
        if self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE:
            self._arm_header_deadline()
        elif self.conn.their_state is not h11.IDLE:
            self._cancel_header_deadline()

    def _arm_header_deadline(self) -> None:
        # Arm once per head: bytes arriving later must not push the deadline back.
        if self._header_deadline is None and not self.transport.is_closing():
            self._header_deadline = self.loop.call_later(self.header_timeout_s, self._header_timed_out)

    def _cancel_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _header_timed_out(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        if self.conn.trailing_data[0]:  # part of a request arrived: say why it is dropped
            self.logger.info("%s: request head incomplete after %g s; closing", self.client, self.header_timeout_s)
            self.transport.write(_timeout_response(self.header_timeout_s))
        self.transport.close()


class FairAcceptLoop(asyncio.SelectorEventLoop):
    """asyncio's event loop, taking one pending connection off a listening socket per turn of the loop.

    The workers of ``planmap serve`` share one listening socket, and asyncio accepts up to ``backlog``
    pending connections each time it finds the socket readable: when a client opens 16 connections at once,
    the worker that wakes first takes all of them and the others stay idle for as long as those connections
    live (measured with wrk on two workers: all 16 on one, the same req/s as one client). Taking one a turn,
    every idle worker takes its share, and a worker busy with a request leaves new connections to the others.
    Overridden by hand: asyncio has no setting for it, and the batch is ``_accept_connection``'s argument.
    """

    def _accept_connection(
        self,
        protocol_factory: Any,
        sock: Any,
        sslcontext: Any = None,
        server: Any = None,
        backlog: int = 100,
        *rest: Any,
    ) -> None:
        super()._accept_connection(protocol_factory, sock, sslcontext, server, 1, *rest)  # type: ignore[misc]


KEEP_ALIVE_S = 5
"""Seconds an idle keep-alive connection stays open after a response (uvicorn's default, made explicit)."""


def server_options(api: ApiSettings) -> dict[str, Any]:
    """Return the uvicorn ``Config`` options ``planmap serve`` runs with: the head deadline, size limits and the
    event loop that shares connections out among the workers.

    The protocol is a ``partial`` of a module-level class so that ``--workers`` can pickle it into each
    worker process. h11's limit on a buffered request head is 16 KiB, or more when the URL limit needs it.
    """
    protocol = functools.partial(HeaderTimeoutProtocol, header_timeout_s=api.header_timeout_s)
    return {
        "http": cast("type[asyncio.Protocol]", protocol),  # uvicorn only calls it with its keyword arguments
        "h11_max_incomplete_event_size": max(16 * 1024, api.max_url_bytes + 8 * 1024),
        "timeout_keep_alive": KEEP_ALIVE_S,
        "loop": "server.protocol:FairAcceptLoop",  # uvicorn calls it to make each worker's loop
    }

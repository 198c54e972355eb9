"""Connection limits of the teleop server's HTTP layer, which uvicorn does not set itself.

uvicorn times out idle keep-alive connections, but not a client that opens a connection and
never finishes its request headers (slowloris): such connections stay open for ever and each
holds a socket. :class:`GuardedHttpProtocol` (uvicorn's httptools protocol) closes a connection
whose request headers are not complete ``HEADER_TIMEOUT_S`` seconds after it opened (or after
its previous response), and refuses connections beyond ``MAX_CONNECTIONS`` at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT_S = 10.0  # a request's headers must arrive within this many seconds
MAX_CONNECTIONS = 256  # open HTTP and WebSocket connections at once; more are closed at once


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools HTTP protocol with a header timeout and a connection cap."""

    header_timeout_s: float = HEADER_TIMEOUT_S
    max_connections: int = MAX_CONNECTIONS

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            transport.close()  # over the cap: nothing is read from it
            return
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_timer()  # the next request on this keep-alive connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)


def server_options() -> dict[str, Any]:
    """The uvicorn settings the teleop server runs with (``uvicorn.run`` / ``uvicorn.Config``)."""
    from datapipe.teleop.control import MAX_BINARY_BYTES

    return {
        "http": GuardedHttpProtocol,
        "log_level": "warning",
        "ws_max_size": 2 * MAX_BINARY_BYTES,
        "ws_ping_interval": None,
        "timeout_keep_alive": 5,
        "limit_concurrency": MAX_CONNECTIONS,
    }

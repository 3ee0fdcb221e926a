"""Errors that carry their wire meaning.

A protocol core raises one of these when a peer breaks the protocol; only the I/O
adapter turns it into bytes on the wire, in one place: an HTTP status line (plus any
headers the error carries) or a WebSocket Close frame with ``close_code``.
"""

from __future__ import annotations

__all__ = ["ProtocolError", "HTTPError", "WebSocketError"]


class ProtocolError(Exception):
    """A peer broke the protocol. Subclasses carry what to answer on the wire."""


class HTTPError(ProtocolError):
    """Answer with ``status``; ``headers`` are extra response headers the answer needs.

    Example: RFC 6455 §4.2.2 asks a server that refuses a WebSocket version to answer
    426 with ``Sec-WebSocket-Version: 13``, so that error carries the header.
    """

    def __init__(
        self,
        status: int,
        message: str,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
        self.headers: list[tuple[bytes, bytes]] = list(headers) if headers else []

    def __str__(self) -> str:
        return f"{self.status} {self.message}"


class WebSocketError(ProtocolError):
    """Fail the WebSocket connection with ``close_code`` (RFC 6455 §7.4.1)."""

    def __init__(self, close_code: int, message: str) -> None:
        super().__init__(close_code, message)
        self.close_code = close_code
        self.message = message

    def __str__(self) -> str:
        return f"{self.close_code} {self.message}"

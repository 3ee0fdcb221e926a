"""Errors that carry their wire meaning.

A parser raises one of these when the peer breaks the protocol. The exception says what
to answer (an HTTP status, a WebSocket close code); only the I/O adapter turns it into
bytes, in one place.
"""
from __future__ import annotations

__all__ = ["ProtocolError", "HTTPError", "WebSocketError"]


class ProtocolError(Exception):
    """A peer broke the protocol. Subclasses carry what to answer on the wire."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class HTTPError(ProtocolError):
    """Answer with `status` (and any extra `headers`), then close the connection."""

    def __init__(
        self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or []

    def __repr__(self) -> str:
        return f"HTTPError({self.status}, {self.message!r})"


class WebSocketError(ProtocolError):
    """Fail the WebSocket connection with `close_code` (RFC 6455 §7.4.1)."""

    def __init__(self, close_code: int, message: str) -> None:
        super().__init__(message)
        self.close_code = close_code

    def __repr__(self) -> str:
        return f"WebSocketError({self.close_code}, {self.message!r})"

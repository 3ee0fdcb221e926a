"""The events an HTTP/1.1 parser hands back.

Events are plain immutable data. They are NamedTuples rather than frozen dataclasses
because a server builds two of them per request on its hot path, and a tuple is built in
a fraction of the time; the parser has validated every field before it builds one.
"""
from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "Headers", "Request", "Response", "Data", "EndOfMessage", "ConnectionClosed",
    "NEED_DATA", "NeedData",
]

# Field lines in the order received: names as sent, values without surrounding whitespace.
Headers = list[tuple[bytes, bytes]]


class Request(NamedTuple):
    """A request head: `GET /a?b=c HTTP/1.1` and its header field lines."""

    method: bytes
    target: bytes
    version: bytes  # b"1.1" or b"1.0"
    headers: Headers


class Response(NamedTuple):
    """A response head, as a client reads it (1xx responses included)."""

    version: bytes
    status: int
    reason: bytes
    headers: Headers


class Data(NamedTuple):
    """A piece of message body, already de-chunked."""

    data: bytes


class EndOfMessage(NamedTuple):
    """The message is complete. Trailer fields come only with chunked bodies."""

    trailers: Headers = []


class ConnectionClosed(NamedTuple):
    """The peer closed its side between messages: a clean end."""


class NeedData:
    """Sentinel: the parser needs more bytes before it can say anything."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = NeedData()

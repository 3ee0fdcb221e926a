"""Helpers the pattern modules share: header lookup, query numbers, bounded bodies.

The lab app's parser accepts bodies up to `--max-upload` (uploads stream them to disk),
so every route that holds a body in memory wraps itself in `limited(app, max_body)`:
it refuses, with 413, a Content-Length past `--max-body` before reading a byte, and a
chunked body as soon as it crosses the limit.
"""
from __future__ import annotations

import math
from typing import Callable

from protocols.errors import HTTPError
from protocols.http1 import Headers, Request

from ..app import Answer, BodyReader, Deferred, Response

__all__ = ["header", "query_number", "limited", "LONG_POLL_MAX_WAIT"]

# The longest a long poll may be held, in seconds. Longer waits are clamped, not refused:
# intermediaries commonly cut idle responses at 60 s (nginx proxy_read_timeout), so
# clients re-poll anyway. Kafka's fetch.max.wait.ms defaults to 0.5 s; ours is the
# client's choice up to this bound.
LONG_POLL_MAX_WAIT = 60.0


def header(request: Request, name: bytes) -> bytes | None:
    """The value of the last field named `name` (case-insensitive), or None."""
    name = name.lower()
    found = None
    for field, value in request.headers:
        if field.lower() == name:
            found = value
    return found


def query_number(params: dict[str, str], name: str, *, default: float | None = None,
                 integer: bool = False, maximum: float | None = None) -> float | None:
    """A non-negative number from the query string; 400 if it is not one."""
    text = params.get(name)
    if text is None:
        return default
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise HTTPError(400, f"{name}={text[:20]!r} is not a {'whole ' if integer else ''}number") from None
    if value < 0 or not math.isfinite(value):
        raise HTTPError(400, f"{name} must be a non-negative number")
    if maximum is not None and value > maximum:
        value = maximum
    return value


class _Limited:
    __slots__ = ("reader", "limit", "size")

    def __init__(self, reader: BodyReader, limit: int) -> None:
        self.reader = reader
        self.limit = limit
        self.size = 0

    def data(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise HTTPError(413, f"body larger than {self.limit} bytes")
        self.reader.data(chunk)

    def end(self, trailers: Headers) -> Response | Deferred:
        return self.reader.end(trailers)

    def abort(self) -> None:
        abort = getattr(self.reader, "abort", None)
        if abort is not None:
            abort()


def limited(app: Callable[..., Answer], max_body: int) -> Callable[..., Answer]:
    """`app` (a route: `app(request, **path_groups)`), refusing request bodies past
    `max_body` bytes with 413."""

    def bounded(request: Request, **groups: str) -> Answer:
        length = header(request, b"content-length")
        # The parser has validated Content-Length already: digits, one value (a list
        # of equal values is allowed, RFC 9112 §6.3), so the first item is the length.
        if length is not None and int(length.split(b",")[0]) > max_body:
            raise HTTPError(413, f"body larger than {max_body} bytes")
        answer = app(request, **groups)
        if isinstance(answer, Response) or not hasattr(answer, "end"):
            return answer
        return _Limited(answer, max_body)

    return bounded

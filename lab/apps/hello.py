"""`hello`: every request gets `200 OK`, text/plain, `Hello, World!` (the benchmark app)."""
from __future__ import annotations

from protocols.http1 import Request

from ..app import Response

__all__ = ["hello"]

_HEADERS = [(b"Content-Type", b"text/plain")]
_BODY = b"Hello, World!"


def hello(request: Request) -> Response:
    # A body sent with the request is read and dropped by the connection.
    return Response(200, _HEADERS, _BODY)

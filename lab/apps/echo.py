"""`echo`: any method, any target: the request as the server parsed it, in JSON.

    {"method": "GET", "target": "/a?b=c", "version": "HTTP/1.1",
     "headers": [["Host", "x"], ...], "body_base64": "...", "trailers": [...]}

Names as received, values without surrounding whitespace, the body de-chunked. Bytes
outside ASCII are shown as Latin-1, the one decoding that maps every byte to a char.
"""
from __future__ import annotations

import base64

from protocols.http1 import Headers, Request

from ..app import Response, buffered, json_response

__all__ = ["echo", "describe"]


def _fields(headers: Headers) -> list[list[str]]:
    return [[name.decode("latin-1"), value.decode("latin-1")] for name, value in headers]


def describe(request: Request, body: bytes, trailers: Headers) -> dict:
    return {
        "method": request.method.decode("latin-1"),
        "target": request.target.decode("latin-1"),
        "version": "HTTP/" + request.version.decode(),
        "headers": _fields(request.headers),
        "body_base64": base64.b64encode(body).decode(),
        "trailers": _fields(trailers),
    }


def _echo(request: Request, body: bytes, trailers: Headers) -> Response:
    return json_response(200, describe(request, body, trailers))


echo = buffered(_echo)

"""Writing messages: response heads, whole responses, chunks (RFC 9112 §4, §6, §7).

Exercise 02 starter: this file takes the place of the lab's `protocols/http1/writer.py`.
Keep the names and signatures; replace each `raise NotImplementedError(...)`.
`format_request` (for the lab's own clients) is given.

The chunked coding itself (``encode_chunk``, ``LAST_CHUNK``) lives with its reader in
``body.py`` and is re-exported here.

A response is built as one bytes object so the server can send it with one write: two
writes (head, then body) meet Nagle's algorithm and delayed ACK on the peer and cost
~40 ms each on loopback.
"""
from __future__ import annotations

import time
from email.utils import formatdate
from http import HTTPStatus

from .body import LAST_CHUNK, encode_chunk
from .events import Headers

__all__ = [
    "response_head", "format_response", "format_request", "encode_chunk",
    "LAST_CHUNK", "CONTINUE", "http_date", "status_line", "body_allowed",
]

# RFC 9110 §15.2.1: the interim response to `Expect: 100-continue`.
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def status_line(status: int) -> bytes:
    raise NotImplementedError(
        "status_line: b'HTTP/1.1 %d %s\\r\\n' with the reason phrase of http.HTTPStatus "
        "(precompute a table); an unknown code keeps the SP and has no phrase; not 100..999 "
        "is ValueError"
    )


def body_allowed(status: int, method: bytes) -> bool:
    """RFC 9110 §6.4.1: no content after HEAD, nor in 1xx, 204 and 304 responses."""
    raise NotImplementedError(
        "body_allowed: False for HEAD, for 1xx, 204 and 304; True otherwise"
    )


def _check_name(name: bytes) -> None:
    raise NotImplementedError(
        "_check_name: RFC 9110 §5.1 field-name = token; anything else (a CR, LF or colon "
        "would smuggle in fields) is ValueError"
    )


_date_second = 0
_date_value = b""


def http_date() -> bytes:
    """RFC 9110 §6.6.1 IMF-fixdate for the current second, computed once a second."""
    raise NotImplementedError(
        "http_date: email.utils.formatdate(now, usegmt=True) as bytes, now = "
        "int(time.time()); cache it for the current second"
    )


def _new_second(now: int) -> None:
    raise NotImplementedError(
        "_new_second (a helper of http_date, yours to keep or drop): format the date of "
        "this second once (the reference also forgets the heads it built with the old Date)"
    )


def response_head(
    status: int,
    headers: Headers,
    *,
    length: int | None,
    keep_alive: bool = True,
    chunked: bool = True,
) -> bytes:
    """Status line and fields, with framing: Content-Length, or (length None) chunked
    or, for an HTTP/1.0 peer that can't read chunks (chunked=False), close-delimited."""
    raise NotImplementedError(
        "response_head: status line, Date, the given fields (refuse a name that is not a "
        "token (_check_name) and CR/LF in a value with ValueError), then framing: "
        "Content-Length when length is known, else Transfer-Encoding: chunked (or, "
        "chunked=False, no framing and Connection: close); none of them for 1xx/204/304; "
        "Connection: close when not keep_alive; then the empty line"
    )


def _build_head(
    status: int, headers: Headers, length: int | None, keep_alive: bool, chunked: bool
) -> bytes:
    raise NotImplementedError(
        "_build_head (a helper of response_head, yours to keep or drop): the reference "
        "builds each distinct head once a second and reuses it; a plain response_head that "
        "builds every head is just as correct"
    )


def format_response(
    status: int,
    headers: Headers,
    body: bytes = b"",
    *,
    keep_alive: bool = True,
    method: bytes = b"GET",
) -> bytes:
    """A whole response with a Content-Length body, ready for one write. For HEAD the
    Content-Length is the one GET would get, and the body is left out."""
    raise NotImplementedError(
        "format_response: response_head with length=len(body), plus the body when "
        "body_allowed(status, method); one bytes object, for one write"
    )


def format_request(
    method: bytes, target: bytes, headers: Headers, body: bytes | None = None
) -> bytes:
    """A request for the lab's own clients; adds Content-Length when there is a body."""
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    if body is not None:
        parts += (b"Content-Length: ", b"%d" % len(body), b"\r\n\r\n", body)
    else:
        parts.append(b"\r\n")
    return b"".join(parts)

"""Writing messages: response heads, whole responses, chunks (RFC 9112 §4, §6, §7).

The chunked coding itself (``encode_chunk``, ``LAST_CHUNK``) lives with its reader in
``body.py`` and is re-exported here.

A response is built as one bytes object so the server can send it with one write: two
writes (head, then body) meet Nagle's algorithm and delayed ACK on the peer and cost
~40 ms each on loopback.
"""
from __future__ import annotations

import re
import time
from email.utils import formatdate
from http import HTTPStatus

from .body import LAST_CHUNK, encode_chunk
from .events import Headers
from .head import TOKEN

__all__ = [
    "response_head", "format_response", "format_request", "encode_chunk",
    "LAST_CHUNK", "CONTINUE", "http_date", "status_line", "body_allowed",
]

# RFC 9110 §15.2.1: the interim response to `Expect: 100-continue`.
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

_STATUS_LINES = {
    s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode()) for s in HTTPStatus
}


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        if not 100 <= status <= 999:
            raise ValueError(f"status {status} is not three digits")
        line = b"HTTP/1.1 %d \r\n" % status  # the reason phrase is optional (§4)
    return line


def body_allowed(status: int, method: bytes) -> bool:
    """RFC 9110 §6.4.1: no content after HEAD, nor in 1xx, 204 and 304 responses."""
    return method != b"HEAD" and status >= 200 and status not in (204, 304)


# RFC 9110 §5.1: field-name = token. Names that passed are remembered (apps send the
# same few names on every response), so the check costs one set lookup per field.
_is_token = re.compile(TOKEN).fullmatch
_good_names: set[bytes] = set()


def _check_name(name: bytes) -> None:
    if _is_token(name) is None:
        # A CR, LF or colon in a name would let it smuggle in fields of its own.
        raise ValueError(f"field name {name!r} is not a token")
    if len(_good_names) < 1024:
        _good_names.add(name)


# Bytes as ints: `b"\n" in value` first tries b"\n" as an integer, and raising and
# clearing that TypeError costs ~2k instructions; `10 in value` is a plain memchr.
_CR, _LF, _NUL = 0x0D, 0x0A, 0x00

_date_second = 0
_date_value = b""


def http_date() -> bytes:
    """RFC 9110 §6.6.1 IMF-fixdate for the current second, computed once a second."""
    if not 0.0 <= time.time() - _date_second < 1.0:  # (a float: int() costs 1k instructions)
        _new_second(int(time.time()))
    return _date_value


def _new_second(now: int) -> None:
    global _date_second, _date_value
    _date_value = formatdate(now, usegmt=True).encode()
    _date_second = now
    _heads.clear()  # they carry the old Date


# Heads already built this second, keyed by everything that goes into one: an app sends
# the same few heads again and again (hello's, a JSON answer's), and hashing the key (a
# tuple of ints and bytes, whose hashes are cached) costs a fraction of checking and
# joining the fields again. Emptied every second and when full, so heads seen once (a
# Location with an id) cannot crowd out the ones seen every time.
_heads: dict[tuple, bytes] = {}


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
    http_date()  # a new second: a new Date, and last second's heads forgotten
    key = (status, *headers, length, keep_alive, chunked)
    try:
        head = _heads.get(key)
    except TypeError:  # a value that is not bytes (a bytearray) cannot be a key
        return _build_head(status, headers, length, keep_alive, chunked)
    if head is None:
        head = _build_head(status, headers, length, keep_alive, chunked)
        if len(_heads) >= 256:
            _heads.clear()
        _heads[key] = head
    return head


def _build_head(
    status: int, headers: Headers, length: int | None, keep_alive: bool, chunked: bool
) -> bytes:
    parts = [status_line(status), b"Date: ", _date_value, b"\r\n"]
    for name, value in headers:
        if name not in _good_names:
            _check_name(name)
        # RFC 9110 §5.5: "Field values containing CR, LF, or NUL characters are invalid
        # and dangerous"; a CR or LF would let a value smuggle in fields of its own.
        if _LF in value or _CR in value or _NUL in value:
            raise ValueError(f"field {name!r} has a CR, LF or NUL in its value")
        parts += (name, b": ", value, b"\r\n")
    # RFC 9110 §8.6: "A server MUST NOT send a Content-Length header field in any
    # response with a status code of 1xx (Informational) or 204 (No Content)."
    if status >= 200 and status not in (204, 304):
        if length is not None:
            parts += (b"Content-Length: ", b"%d" % length, b"\r\n")
        elif chunked:
            parts.append(b"Transfer-Encoding: chunked\r\n")
        else:
            keep_alive = False
    if not keep_alive:
        parts.append(b"Connection: close\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


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
    head = response_head(status, headers, length=len(body), keep_alive=keep_alive)
    return head + body if body and body_allowed(status, method) else head


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

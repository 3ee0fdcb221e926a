"""The WebSocket opening handshake, both sides, sans-I/O.

This is the exercise's starter: the names, signatures and docstrings are the lab's;
each body raises NotImplementedError with a hint. `protocols.errors` (HTTPError,
WebSocketError) is the lab's: use it.

Implements RFC 6455 §4 "Opening Handshake":
  §4.1 client requirements (the request; checking the server's 101 response),
  §4.2.1 reading the client's opening handshake, §4.2.2 sending the server's,
  §4.4 supporting multiple versions (426 with ``Sec-WebSocket-Version``),
  §1.3 the accept key (SHA-1 of the key and the RFC's GUID, base64).

The HTTP/1.1 request line and header block are parsed by ``protocols.http1``; this
module receives the method and the header list (names as received, values already
stripped of surrounding whitespace) and answers with the 101 response headers or an
``HTTPError`` that says what to answer instead. Bytes that arrive after the request's
header block belong to the frame codec (``protocols.websocket.frames``).

Choices, all within the RFC:
- A non-GET request is refused with 400, not 405: §4.2.2 says to answer a handshake
  that does not match §4.2.1 "with an appropriate error code (such as 400 Bad
  Request)". A router that wants 405 with ``Allow`` can answer before calling us.
- A missing ``Sec-WebSocket-Version`` gets 426 like a wrong one: the client learns
  which version to speak from the ``Sec-WebSocket-Version: 13`` header.
- No subprotocol and no extension is ever negotiated, so the RSV bits stay reserved
  and the frame codec rejects them. ``Host`` and ``Origin`` are for the HTTP layer and
  the app respectively.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

from protocols.errors import HTTPError, WebSocketError

__all__ = [
    "GUID",
    "WEBSOCKET_VERSION",
    "accept_key",
    "server_handshake",
    "client_handshake_request",
    "check_server_response",
]

# §1.3: "the server has to take the value ... and concatenate this with the Globally
# Unique Identifier (GUID, [RFC4122]) "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" in string
# form, which is unlikely to be used by network endpoints that do not understand the
# WebSocket Protocol."
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# §4.1: "The value of this header field MUST be 13."
WEBSOCKET_VERSION = b"13"
# §4.1: "The nonce MUST be a randomly selected 16-byte value that has been base64-
# encoded".
KEY_BYTES = 16

Headers = list[tuple[bytes, bytes]]


def accept_key(key: bytes | str) -> str:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key`` (§1.3, §4.2.2 item 5.4).

    "A SHA-1 hash (160 bits) [FIPS.180-3], base64-encoded (see Section 4 of
    [RFC4648]), of this concatenation is then returned in the server's handshake."
    """
    raise NotImplementedError(
        "base64 of the SHA-1 (hashlib) of key + GUID (the key as sent: a string, not "
        "decoded)"
    )


def server_handshake(method: bytes, headers: Headers) -> Headers:
    """Check a client's opening handshake; return the 101 response's headers.

    Raises ``HTTPError`` (400, or 426 carrying ``Sec-WebSocket-Version: 13``) when the
    request is not a version-13 WebSocket handshake (§4.2.1, §4.4).
    """
    # §4.2.1 item 1: "An HTTP/1.1 or higher GET request, including a "Request-URI""
    raise NotImplementedError(
        "GET, Upgrade: websocket, Connection: Upgrade (case-insensitive tokens), version 13 "
        "(else 426 with Sec-WebSocket-Version: 13), exactly one key that decodes to 16 "
        "bytes; return the 101's headers"
    )


def client_handshake_request(host: str, path: str, key: str | None = None) -> tuple[bytes, str]:
    """A client's opening handshake request (§4.1) and the key it carries.

    ``key`` defaults to 16 fresh random bytes, base64-encoded ("The nonce MUST be
    selected randomly for each connection"). Keep the key: ``check_server_response``
    needs it.
    """
    raise NotImplementedError(
        "the GET request bytes with a fresh base64 key of 16 random bytes (os.urandom); "
        "return (bytes, key)"
    )


def check_server_response(status: int, headers: Headers, key: str) -> None:
    """Check the server's answer to our handshake (§4.1, "the client MUST validate").

    Raises ``WebSocketError(1002, ...)``: "If the server's response does not conform
    to the requirements for the server's handshake as defined in this section and in
    Section 4.2.2, the client MUST _Fail the WebSocket Connection_." No frame can be
    sent before the handshake completes, so the code only records the reason: the
    caller closes the TCP connection.
    """
    # "If the status code received from the server is not 101, the client handles the
    # response per HTTP [RFC2616] procedures."
    raise NotImplementedError(
        "101, Upgrade and Connection tokens, the right Sec-WebSocket-Accept, no extension "
        "or subprotocol; else WebSocketError(1002, ...)"
    )


def _values(headers: Headers, name: bytes) -> list[bytes]:
    """Every value of header ``name`` (ASCII case-insensitive), in order."""
    raise NotImplementedError(
        "every value of the header `name` (names compared case-insensitively)"
    )


def _tokens(headers: Headers, name: bytes) -> set[bytes]:
    """The comma-separated tokens of every ``name`` header, lower-cased (RFC 9110 §5.6.1)."""
    raise NotImplementedError(
        "the comma-separated tokens of every `name` header, stripped and lower-cased"
    )


def _is_valid_key(key: bytes) -> bool:
    raise NotImplementedError(
        "base64 (b64decode with validate=True; bad input raises binascii.Error) that "
        "decodes to exactly 16 bytes"
    )

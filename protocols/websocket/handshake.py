"""The WebSocket opening handshake, both sides, sans-I/O.

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
    if isinstance(key, str):
        key = key.encode("ascii")
    return base64.b64encode(hashlib.sha1(key + GUID).digest()).decode("ascii")


def server_handshake(method: bytes, headers: Headers) -> Headers:
    """Check a client's opening handshake; return the 101 response's headers.

    Raises ``HTTPError`` (400, or 426 carrying ``Sec-WebSocket-Version: 13``) when the
    request is not a version-13 WebSocket handshake (§4.2.1, §4.4).
    """
    # §4.2.1 item 1: "An HTTP/1.1 or higher GET request, including a "Request-URI""
    if method != b"GET":
        raise HTTPError(400, "a WebSocket handshake must be a GET request")
    # §4.2.1 item 3: "An |Upgrade| header field containing the value "websocket",
    # treated as an ASCII case-insensitive value."
    if b"websocket" not in _tokens(headers, b"upgrade"):
        raise HTTPError(400, "missing 'Upgrade: websocket'")
    # §4.2.1 item 4: "A |Connection| header field that includes the token "Upgrade",
    # treated as an ASCII case-insensitive value."
    if b"upgrade" not in _tokens(headers, b"connection"):
        raise HTTPError(400, "missing 'Connection: Upgrade'")
    # §4.4: "If this version does not match a version understood by the server, the
    # server MUST abort the WebSocket handshake described in this section and instead
    # send an appropriate HTTP error code (such as 426 Upgrade Required) and a
    # |Sec-WebSocket-Version| header field indicating the version(s) the server is
    # capable of understanding."
    versions = _values(headers, b"sec-websocket-version")
    if versions != [WEBSOCKET_VERSION]:
        raise HTTPError(
            426,
            "only WebSocket version 13 is supported",
            [(b"Sec-WebSocket-Version", WEBSOCKET_VERSION)],
        )
    # §4.2.1 item 5: "A |Sec-WebSocket-Key| header field with a base64-encoded (see
    # Section 4 of [RFC4648]) value that, when decoded, is 16 bytes in length."
    # §11.3.1: "The |Sec-WebSocket-Key| header field MUST NOT appear more than once in
    # an HTTP request."
    keys = _values(headers, b"sec-websocket-key")
    if len(keys) != 1:
        raise HTTPError(400, "need exactly one Sec-WebSocket-Key header")
    if not _is_valid_key(keys[0]):
        raise HTTPError(400, "Sec-WebSocket-Key must be 16 bytes, base64-encoded")
    # §4.2.2 item 5: "... 101 response code ... An |Upgrade| header field with value
    # "websocket" ... A |Connection| header field with value "Upgrade" ... A
    # |Sec-WebSocket-Accept| header field."
    return [
        (b"Upgrade", b"websocket"),
        (b"Connection", b"Upgrade"),
        (b"Sec-WebSocket-Accept", accept_key(keys[0]).encode("ascii")),
    ]


def client_handshake_request(host: str, path: str, key: str | None = None) -> tuple[bytes, str]:
    """A client's opening handshake request (§4.1) and the key it carries.

    ``key`` defaults to 16 fresh random bytes, base64-encoded ("The nonce MUST be
    selected randomly for each connection"). Keep the key: ``check_server_response``
    needs it.
    """
    for name, value in (("host", host), ("path", path)):
        if not value or any(c in value for c in " \r\n\0"):
            raise ValueError(f"{name} may not be empty or contain space, CR, LF or NUL")
    if not path.startswith("/"):
        raise ValueError("path must start with '/'")
    if key is None:
        key = base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")
    request = (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "\r\n"
    ).encode("ascii")
    return request, key


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
    if status != 101:
        raise WebSocketError(1002, f"server answered {status}, not 101")
    # "If the response lacks an |Upgrade| header field or the |Upgrade| header field
    # contains a value that is not an ASCII case-insensitive match for the value
    # "websocket", the client MUST _Fail the WebSocket Connection_."
    if b"websocket" not in _tokens(headers, b"upgrade"):
        raise WebSocketError(1002, "response lacks 'Upgrade: websocket'")
    # "If the response lacks a |Connection| header field or the |Connection| header
    # field doesn't contain a token that is an ASCII case-insensitive match for the
    # value "Upgrade", the client MUST _Fail the WebSocket Connection_."
    if b"upgrade" not in _tokens(headers, b"connection"):
        raise WebSocketError(1002, "response lacks 'Connection: Upgrade'")
    # "If the response lacks a |Sec-WebSocket-Accept| header field or the
    # |Sec-WebSocket-Accept| contains a value other than the base64-encoded SHA-1 of
    # the concatenation of the |Sec-WebSocket-Key| (as a string, not base64-decoded)
    # with the string "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" ... the client MUST _Fail
    # the WebSocket Connection_."
    if _values(headers, b"sec-websocket-accept") != [accept_key(key).encode("ascii")]:
        raise WebSocketError(1002, "wrong or missing Sec-WebSocket-Accept")
    # "If the response includes a |Sec-WebSocket-Extensions| header field and this
    # header field indicates the use of an extension that was not present in the
    # client's handshake (the server has indicated an extension not requested by the
    # client), the client MUST _Fail the WebSocket Connection_." The same holds for
    # |Sec-WebSocket-Protocol|; we request neither.
    for name in (b"sec-websocket-extensions", b"sec-websocket-protocol"):
        if _values(headers, name):
            raise WebSocketError(1002, f"server chose {name.decode()} we did not offer")


def _values(headers: Headers, name: bytes) -> list[bytes]:
    """Every value of header ``name`` (ASCII case-insensitive), in order."""
    return [value for key, value in headers if key.lower() == name]


def _tokens(headers: Headers, name: bytes) -> set[bytes]:
    """The comma-separated tokens of every ``name`` header, lower-cased (RFC 9110 §5.6.1)."""
    return {
        token.strip().lower()
        for value in _values(headers, name)
        for token in value.split(b",")
        if token.strip()
    }


def _is_valid_key(key: bytes) -> bool:
    try:
        decoded = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(decoded) == KEY_BYTES

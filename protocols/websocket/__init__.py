"""WebSocket (RFC 6455), sans-I/O: the opening handshake, the frame codec, a connection.

- ``handshake``: §4, the HTTP Upgrade and ``Sec-WebSocket-Accept``.
- ``frames``: §5, frames in and out, fragmentation, masking, UTF-8, limits.
- ``connection``: §5.5 and §7, automatic Pong and Close, the closing-handshake states.

Nothing here reads or writes a socket: bytes in, events and bytes out.
"""

from __future__ import annotations

from protocols.websocket.connection import (
    TRANSITIONS,
    InvalidStateError,
    State,
    WebSocketConnection,
)
from protocols.websocket.frames import (
    END_OF_STREAM,
    NEED_DATA,
    Close,
    FrameParser,
    Message,
    Opcode,
    Ping,
    Pong,
    encode_binary,
    encode_close,
    encode_frame,
    encode_ping,
    encode_pong,
    encode_text,
)
from protocols.websocket.handshake import (
    accept_key,
    check_server_response,
    client_handshake_request,
    server_handshake,
)

__all__ = [
    "accept_key",
    "server_handshake",
    "client_handshake_request",
    "check_server_response",
    "Opcode",
    "Message",
    "Ping",
    "Pong",
    "Close",
    "NEED_DATA",
    "END_OF_STREAM",
    "FrameParser",
    "encode_frame",
    "encode_text",
    "encode_binary",
    "encode_ping",
    "encode_pong",
    "encode_close",
    "State",
    "TRANSITIONS",
    "WebSocketConnection",
    "InvalidStateError",
]

"""WebSocket push from the broker: `GET /topics/{t}/ws` (RFC 6455).

This is the exercise's starter: the names, signatures and docstrings are the lab's;
each body raises NotImplementedError with a hint. The sans-I/O core (`protocols.websocket`:
`WebSocketConnection`, `server_handshake`, `encode_frame`) and the broker are the lab's: use them.

The handshake is `protocols.websocket.handshake.server_handshake`: a version-13 GET with
`Upgrade: websocket`, `Connection: Upgrade` and a 16-byte key gets `101 Switching
Protocols`; anything else gets the core's 400, or 426 with `Sec-WebSocket-Version: 13`.
After the 101 the connection belongs to a `WebSocketSession` (the `Session` of
`lab/app.py`), built on the sans-I/O `WebSocketConnection`:

- every topic message is pushed as one text frame `{"offset": n, "data": "text"}`
  (JSON; a message that is not valid UTF-8 has `data` with U+FFFD for the bad bytes and
  `data_base64` with the exact bytes, as the topic poll shows it);
- every message the client sends is published to the topic (a text message as its
  UTF-8 bytes, a binary one as is), so it comes back to every subscriber, the sender
  included, with its offset: two clients on one topic chat;
- a Ping is answered with a Pong (§5.5.2), a Close with a Close, and then nothing more
  is sent and TCP is closed by us (§7.1.1: the server closes first and keeps TIME_WAIT);
- a protocol violation gets a Close with its code (1002, 1007, 1009) and TCP closes;
- a message larger than the server's `--max-body` (16 MiB by default, the same bound
  as a POST to the topic) is refused on its length field alone: Close 1009.

Choices (also in the README):
- **Where a socket starts.** `?after=N` (0 by default: every message the broker still
  holds, like the topic poll and the SSE stream). A number that is not decimal is 400.
  An offset past the newest starts at the newest.
- **A slow reader.** The session is a cursor into the broker's log, not a queue: it
  reads what is new when ticked and holds nothing for the client. The bound is the one
  of `lab/patterns/sse.py`: while the client has not taken the previous output the
  session is not advanced, and a client that does not take it within
  `keepalive_timeout` is dropped (no Close frame can get through a full buffer, so the
  client sees 1006). A client that keeps sending (pings, messages) without reading is
  dropped once more than `max_send_buffer` waits unsent: the answers to its own frames
  are not held back. A session far behind hands over at most `BURST` bytes per turn,
  then lets others go first.
- **Pruned offsets** (a resume point older than retention keeps) are not announced by a
  frame of another shape: the offsets of the frames jump, which says exactly which were
  lost (SSE, which has no offsets in its data, sends `event: pruned` instead).
- **Origin** is not checked: the lab has no cookies or credentials to protect.
- The session's subscription is freed as soon as it is closed (Close handshake, a
  protocol error, or the TCP connection lost).
"""
from __future__ import annotations

import base64
import json
from functools import lru_cache
from time import monotonic

from protocols.errors import HTTPError, WebSocketError
from protocols.http1 import Request
from protocols.websocket import (
    END_OF_STREAM, NEED_DATA, Close, Message, Opcode, State, WebSocketConnection,
    encode_frame, server_handshake,
)

from ..app import Response, Wake
from ..broker import Broker, Subscription
from ..router import query_params, split_target

__all__ = ["WebSocketSession", "websocket_response", "encode_push"]

# Messages per broker read, bytes per turn before others go first, and which encodings
# are cached (see sse.py).
BATCH = 1000
BURST = 256 * 1024
CACHE_MAX_MESSAGE = 8 * 1024
CACHE_ENTRIES = 2048


def encode_push(offset: int, data: bytes) -> bytes:
    """One broker message as a server text frame (unmasked). Small ones are cached:
    every subscriber of a topic sends the same bytes."""
    raise NotImplementedError(
        'one TEXT frame (encode_frame(Opcode.TEXT, ...), unmasked) of the JSON (json.dumps) '
        '{"offset": n, "data": text}; data that is not UTF-8: "replace" plus "data_base64" '
        '(base64)'
    )


def _encode_push(offset: int, data: bytes) -> bytes:
    raise NotImplementedError("the uncached encoder encode_push uses")


_encode_cached = lru_cache(maxsize=CACHE_ENTRIES)(_encode_push)


class WebSocketSession:
    """Takes the connection over after the 101: frames in, frames out, broker both ways."""

    def __init__(self, broker: Broker, topic: str, after: int, *, max_message: int) -> None:
        self.broker = broker
        self.topic = topic
        self.after = min(max(after, 0), broker.last_offset(topic))
        self.ws = WebSocketConnection(client_side=False, max_message=max_message)
        self.closing = False
        self.deadline: float | None = None  # an idle WebSocket is legitimate
        self._subscription: Subscription | None = None

    # -- the Session face (lab/app.py) ---------------------------------------------------
    def start(self, trailing: bytes, wake: Wake) -> bytes:
        raise NotImplementedError(
            "subscribe `wake` to the topic; return the frames already due (_push), then "
            "handle any `trailing` bytes like receive_data"
        )

    def receive_data(self, data: bytes) -> bytes:
        raise NotImplementedError(
            "feed self.ws; for each event until NEED_DATA or END_OF_STREAM: a Message is "
            "published to the topic (text as UTF-8); a Close: push what is due first; after "
            "every event append ws.data_to_send() (Pongs, Closes); a WebSocketError: send "
            "the Close it queued; then push; then _check_closed()"
        )

    def tick(self) -> bytes:
        raise NotImplementedError(
            "called when woken or at the deadline: push what is new while the socket is "
            "OPEN (State.OPEN)"
        )

    def connection_lost(self) -> None:
        raise NotImplementedError(
            "the TCP connection is gone: closing = True and unsubscribe"
        )

    # -- pushing ------------------------------------------------------------------------
    def _push(self, limit: bool = True) -> bytes:
        """Frames for the messages after our cursor: at most BURST bytes per turn (or
        one whole batch, `limit=False`, when no turn will follow: before our Close)."""
        raise NotImplementedError(
            "read the broker after self.after; one encode_push frame per message; move "
            "self.after; at most BURST bytes a turn (limit), and with more to send, "
            "deadline = monotonic() (come back at once)"
        )

    def _check_closed(self) -> None:
        raise NotImplementedError(
            "once self.ws.state is State.CLOSED: closing = True (the I/O model closes TCP), "
            "deadline None, unsubscribe"
        )

    def _unsubscribe(self) -> None:
        raise NotImplementedError(
            "unsubscribe from the broker, once (it may be called twice)"
        )

    @property
    def subscribed(self) -> bool:
        raise NotImplementedError("whether the session is still subscribed")


def _start_offset(request: Request) -> int:
    raise NotImplementedError(
        "the ?after=N query (query_params(split_target(request.target)[1]); 0 by default); "
        "400 (HTTPError) unless decimal digits"
    )


def websocket_response(broker: Broker, topic: str, request: Request, max_message: int) -> Response:
    """The 101 that hands the connection to a session, or the core's 400/426."""
    # §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
    raise NotImplementedError(
        "HTTP/1.1 only (else 400); server_handshake() gives the 101's headers (or raises "
        "400/426); return Response(101, headers, session=WebSocketSession(...))"
    )

"""WebSocket push from the broker: `GET /topics/{t}/ws` (RFC 6455).

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
    if len(data) <= CACHE_MAX_MESSAGE:
        return _encode_cached(offset, data)
    return _encode_push(offset, data)


def _encode_push(offset: int, data: bytes) -> bytes:
    try:
        view = {"offset": offset, "data": data.decode("utf-8")}
    except UnicodeDecodeError:
        view = {"offset": offset, "data": data.decode("utf-8", "replace"),
                "data_base64": base64.b64encode(data).decode("ascii")}
    text = json.dumps(view, ensure_ascii=False, separators=(",", ":"))
    return encode_frame(Opcode.TEXT, text.encode("utf-8"))


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
        self._subscription = self.broker.subscribe(self.topic, wake)
        out = self._push()
        if trailing:  # frames the client sent right behind its handshake
            out += self.receive_data(trailing)
        return out

    def receive_data(self, data: bytes) -> bytes:
        ws = self.ws
        ws.receive_data(data)
        out: list[bytes] = []
        try:
            while True:
                event = ws.next_event()
                if event is NEED_DATA or event is END_OF_STREAM:
                    break
                if isinstance(event, Message):
                    payload = event.data
                    self.broker.publish(
                        self.topic, payload.encode("utf-8") if isinstance(payload, str) else payload
                    )
                elif isinstance(event, Close):
                    # The core queued our Close. What was published before it (the
                    # client's own last messages too) still goes out ahead of it: data
                    # may be sent until our Close is (§5.5.1).
                    out.append(self._push(limit=False))
                # Ping: the core queued the Pong; Pong: nothing to do.
                out.append(ws.data_to_send())
        except WebSocketError:
            out.append(ws.data_to_send())  # the Close frame with the error's code
        if ws.state is State.OPEN:
            out.append(self._push())  # our own publish, without waiting for the wake-up
        self._check_closed()
        return b"".join(out)

    def tick(self) -> bytes:
        if self.ws.state is not State.OPEN:
            return b""
        return self._push()

    def connection_lost(self) -> None:
        self.closing = True
        self._unsubscribe()

    # -- pushing ------------------------------------------------------------------------
    def _push(self, limit: bool = True) -> bytes:
        """Frames for the messages after our cursor: at most BURST bytes per turn (or
        one whole batch, `limit=False`, when no turn will follow: before our Close)."""
        batch = self.broker.read(self.topic, self.after, BATCH)
        if batch.pruned and not batch.messages:
            self.after = batch.oldest - 1
        parts: list[bytes] = []
        size = 0
        for message in batch.messages:
            frame = encode_push(message.offset, message.data)
            parts.append(frame)
            size += len(frame)
            self.after = message.offset
            if limit and size >= BURST:
                break
        more = size >= BURST or len(batch.messages) == BATCH
        # More to send: come back at once, after the I/O model has served the others.
        self.deadline = monotonic() if more else None
        return b"".join(parts)

    def _check_closed(self) -> None:
        if self.ws.state is State.CLOSED:
            # After Close nothing more is sent: the adapter writes what we returned
            # (our Close, if any) and closes TCP.
            self.closing = True
            self.deadline = None
            self._unsubscribe()

    def _unsubscribe(self) -> None:
        if self._subscription is not None:
            self.broker.unsubscribe(self._subscription)
            self._subscription = None

    @property
    def subscribed(self) -> bool:
        return self._subscription is not None


def _start_offset(request: Request) -> int:
    value = query_params(split_target(request.target)[1]).get("after", "")
    if not value:
        return 0
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise HTTPError(400, "after must be a broker offset, a decimal number")
    return int(value)


def websocket_response(broker: Broker, topic: str, request: Request, max_message: int) -> Response:
    """The 101 that hands the connection to a session, or the core's 400/426."""
    # §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
    if request.version != b"1.1":
        raise HTTPError(400, "a WebSocket handshake needs HTTP/1.1")
    headers = server_handshake(request.method, request.headers)
    session = WebSocketSession(broker, topic, _start_offset(request), max_message=max_message)
    return Response(101, headers, session=session)

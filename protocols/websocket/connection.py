"""One WebSocket connection after the handshake: the frame codec plus its duties.

Implements RFC 6455 §5.5.2-§5.5.3 (answer a Ping with a Pong), §5.5.1 and §7.1 (the
closing handshake, failing the connection), §7.4.1 (which codes never go on the wire).

Sans-I/O like the codec beneath it: ``receive_data(bytes)`` and ``next_event()`` in,
and every byte we owe the peer comes back from a method (``send_*``) or from
``data_to_send()`` (the automatic Pong, the echoed Close, the Close that fails the
connection). The adapter writes those bytes; when ``state`` is ``CLOSED`` and
``data_to_send()`` is empty it closes TCP. §7.1.1: "The underlying TCP connection, in
most normal cases, SHOULD be closed first by the server, so that it holds the
TIME_WAIT state and not the client".

States and what moves between them (``TRANSITIONS``, printable with ``describe()``):

    OPEN     --send_close-->    CLOSING   we sent Close, wait for the peer's
    OPEN     --receive_close--> CLOSED    we echo the peer's Close at once
    CLOSING  --receive_close--> CLOSED    the closing handshake is complete
    OPEN     --fail-->          CLOSED    protocol error: we send Close(code) and stop
    CLOSING  --fail-->          CLOSED    protocol error after our Close: just stop
    OPEN     --eof-->           CLOSED    TCP closed without a Close frame (1006)
    CLOSING  --eof-->           CLOSED    same

Rule (the brief's and §5.5.1's): "after sending a Close frame, the application MUST NOT
send any more data frames". We go further: after our Close nothing at all is sent, not
even a Pong, and ``send_*`` raises ``InvalidStateError``.
"""

from __future__ import annotations

import enum
import os

from protocols.errors import WebSocketError
from protocols.websocket.frames import (
    ABNORMAL_CLOSURE,
    DEFAULT_MAX_MESSAGE,
    END_OF_STREAM,
    NO_STATUS_RECEIVED,
    Close,
    FrameEvent,
    FrameParser,
    Ping,
    Signal,
    encode_binary,
    encode_close,
    encode_ping,
    encode_pong,
    encode_text,
)

__all__ = ["State", "Trigger", "TRANSITIONS", "WebSocketConnection", "InvalidStateError", "describe"]


class State(enum.Enum):
    OPEN = "OPEN"
    CLOSING = "CLOSING"  # our Close is sent, the peer's has not arrived
    CLOSED = "CLOSED"  # nothing more is sent or read; close TCP


class Trigger(enum.Enum):
    SEND_CLOSE = "send_close"
    RECEIVE_CLOSE = "receive_close"
    FAIL = "fail"
    EOF = "eof"


TRANSITIONS: dict[tuple[State, Trigger], State] = {
    (State.OPEN, Trigger.SEND_CLOSE): State.CLOSING,
    (State.OPEN, Trigger.RECEIVE_CLOSE): State.CLOSED,
    (State.CLOSING, Trigger.RECEIVE_CLOSE): State.CLOSED,
    (State.OPEN, Trigger.FAIL): State.CLOSED,
    (State.CLOSING, Trigger.FAIL): State.CLOSED,
    (State.OPEN, Trigger.EOF): State.CLOSED,
    (State.CLOSING, Trigger.EOF): State.CLOSED,
}


def describe() -> str:
    """The transition table, one line per edge."""
    return "\n".join(
        f"{src.value:8} --{trigger.value}--> {dst.value}" for (src, trigger), dst in TRANSITIONS.items()
    )


class InvalidStateError(RuntimeError):
    """Our own code tried to send after our Close, or to close twice."""


class WebSocketConnection:
    """The state of one WebSocket, from either side (``client_side``).

    ``close_code``/``close_reason`` record how it ended once ``state`` is CLOSED: the
    peer's code (1005 if its Close had no body), our failure code, or 1006 if TCP
    closed without a Close frame.
    """

    def __init__(
        self,
        client_side: bool = False,
        max_message: int = DEFAULT_MAX_MESSAGE,
        auto_pong: bool = True,
    ) -> None:
        self.client_side = client_side
        self.auto_pong = auto_pong
        self.state = State.OPEN
        self.close_code: int | None = None
        self.close_reason = ""
        self._parser = FrameParser(client_side=client_side, max_message=max_message)
        self._outgoing = bytearray()

    # --- receiving ---------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Bytes from the peer; ``b""`` when it closed TCP."""
        if self.state is not State.CLOSED:
            self._parser.receive_data(data)

    def next_event(self) -> FrameEvent | Signal:
        """The next event; answers it when the protocol says so (see ``data_to_send``).

        Raises ``WebSocketError`` when the peer broke the protocol, after queuing the
        Close frame that tells it why (unless our Close was already sent).
        """
        if self.state is State.CLOSED:
            return END_OF_STREAM
        try:
            event = self._parser.next_event()
        except WebSocketError as exc:
            self._fail(exc)
            raise
        if event is END_OF_STREAM:
            self._move(Trigger.EOF)
            self.close_code = ABNORMAL_CLOSURE
        elif isinstance(event, Ping):
            # §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame
            # in response, unless it already received a Close frame." §5.5.3: "A Pong
            # frame sent in response to a Ping frame must have identical "Application
            # data" as found in the message body of the Ping frame being replied to."
            if self.auto_pong and self.state is State.OPEN:
                self._outgoing += encode_pong(event.payload, mask=self._mask())
        elif isinstance(event, Close):
            self._receive_close(event)
        return event

    def _receive_close(self, event: Close) -> None:
        # §5.5.1: "If an endpoint receives a Close frame and did not previously send a
        # Close frame, the endpoint MUST send a Close frame in response. (When sending
        # a Close frame in response, the endpoint typically echos the status code it
        # received.)" 1005 means "no code": it is echoed as an empty body.
        if self.state is State.OPEN:
            code = None if event.code == NO_STATUS_RECEIVED else event.code
            self._outgoing += encode_close(code, mask=self._mask())
        self._move(Trigger.RECEIVE_CLOSE)
        self.close_code, self.close_reason = event.code, event.reason

    def _fail(self, exc: WebSocketError) -> None:
        # §7.1.7: "If _The WebSocket Connection is Established_ prior to the point where
        # the endpoint is required to _Fail the WebSocket Connection_, the endpoint
        # SHOULD send a Close frame with an appropriate status code (Section 7.4)
        # before proceeding to _Close the WebSocket Connection_." 1006 is never sent.
        if self.state is State.OPEN and exc.close_code != ABNORMAL_CLOSURE:
            reason = exc.message.encode("utf-8")[:123].decode("utf-8", "ignore")
            self._outgoing += encode_close(exc.close_code, reason, mask=self._mask())
        self._move(Trigger.FAIL)
        self.close_code, self.close_reason = exc.close_code, exc.message

    # --- sending -------------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """The bytes we owe the peer because of what it sent (Pong, Close); drains."""
        out = bytes(self._outgoing)
        self._outgoing.clear()
        return out

    def send_text(self, text: str) -> bytes:
        self._check_can_send()
        return encode_text(text, mask=self._mask())

    def send_binary(self, data: bytes) -> bytes:
        self._check_can_send()
        return encode_binary(data, mask=self._mask())

    def send_ping(self, payload: bytes = b"") -> bytes:
        self._check_can_send()
        return encode_ping(payload, mask=self._mask())

    def send_pong(self, payload: bytes = b"") -> bytes:
        self._check_can_send()
        return encode_pong(payload, mask=self._mask())

    def send_close(self, code: int | None = 1000, reason: str = "") -> bytes:
        """Start the closing handshake: our Close, then we wait for the peer's."""
        self._check_can_send()
        frame = encode_close(code, reason, mask=self._mask())
        self._move(Trigger.SEND_CLOSE)
        return frame

    def _check_can_send(self) -> None:
        if self.state is not State.OPEN:
            raise InvalidStateError(f"cannot send in state {self.state.value}: our Close was sent")

    def _mask(self) -> bytes | None:
        # §5.3: "The masking key is a 32-bit value chosen at random by the client. When
        # preparing a masked frame, the client MUST pick a fresh masking key from the
        # set of allowed 32-bit values."
        return os.urandom(4) if self.client_side else None

    def _move(self, trigger: Trigger) -> None:
        try:
            self.state = TRANSITIONS[(self.state, trigger)]
        except KeyError:
            raise InvalidStateError(f"no transition from {self.state.value} on {trigger.value}") from None

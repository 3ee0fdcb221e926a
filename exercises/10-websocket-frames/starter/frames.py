"""The WebSocket frame codec, sans-I/O: bytes in, messages out; messages in, bytes out.

This is the exercise's starter: the names, signatures and docstrings are the lab's;
each body raises NotImplementedError with a hint. `protocols.errors` (HTTPError,
WebSocketError) is the lab's: use it.

Implements RFC 6455:
  §5.2 base framing (FIN, RSV1-3, opcode, MASK, 7/16/64-bit payload length),
  §5.3 client-to-server masking, §5.4 fragmentation, §5.5 control frames
  (§5.5.1 Close, §5.5.2 Ping, §5.5.3 Pong), §5.6 data frames (text is UTF-8),
  §5.7 examples, §7.4 status codes, §8.1 handling errors in UTF-8 data,
  §10.4 implementation-specific limits (the message size limit, close code 1009).

``FrameParser.receive_data(bytes)`` buffers; ``next_event()`` returns the next
``Message``, ``Ping``, ``Pong`` or ``Close``, or ``NEED_DATA`` / ``END_OF_STREAM``.
A peer that breaks the protocol gets ``WebSocketError(close_code, message)``, raised
as soon as the violation is certain: a bad header is refused before its payload is
waited for, an oversized message on its length field alone, invalid UTF-8 as soon as
the bytes that make it invalid are unmasked (frames are decoded while they arrive).

Choices, documented where the RFC leaves room:
- "the minimal number of bytes MUST be used to encode the length" (§5.2) binds the
  sender; we treat a non-minimal length as the protocol error it is (1002), like
  wsproto and Autobahn's strict reading.
- CPython's incremental UTF-8 decoder waits for a third byte after ``ED A0..BF``
  although no such sequence is valid (it would be a UTF-16 surrogate); we check that
  prefix ourselves so that case fails as early as the others.
- An EOF in the middle of a frame or of a fragmented message is ``WebSocketError``
  1006 ("abnormal closure"), a code that is never sent on the wire (§7.4.1).
"""

from __future__ import annotations

import codecs
import enum
import struct
from dataclasses import dataclass

from protocols.errors import WebSocketError

__all__ = [
    "Opcode",
    "Message",
    "Ping",
    "Pong",
    "Close",
    "Signal",
    "NEED_DATA",
    "END_OF_STREAM",
    "FrameParser",
    "DEFAULT_MAX_MESSAGE",
    "encode_frame",
    "encode_text",
    "encode_binary",
    "encode_ping",
    "encode_pong",
    "encode_close",
    "is_valid_close_code",
    "apply_mask",
]

# Our own choice (§10.4 asks implementations to "protect themselves against
# exceeding those limits"): 16 MiB is far above any message the lab sends (the issue's
# largest is 1 MiB) and far below what hurts a 2-core box.
DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024
# §5.5: "All control frames MUST have a payload length of 125 bytes or less".
MAX_CONTROL_PAYLOAD = 125

# §7.4.1 status codes.
PROTOCOL_ERROR = 1002
NO_STATUS_RECEIVED = 1005  # reported for a Close with no body; never sent
ABNORMAL_CLOSURE = 1006  # reported for a lost connection; never sent
INVALID_PAYLOAD = 1007
MESSAGE_TOO_BIG = 1009


class Opcode(enum.IntEnum):
    """§5.2: "%x3-7 are reserved for further non-control frames", "%xB-F are reserved
    for further control frames"; those values are not members."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA

    @property
    def is_control(self) -> bool:
        # §5.5: "Control frames are identified by opcodes where the most significant
        # bit of the opcode is 1."
        return bool(self & 0x8)


@dataclass(frozen=True)
class Message:
    """A complete data message: ``str`` for TEXT, ``bytes`` for BINARY."""

    opcode: Opcode
    data: str | bytes

    def __post_init__(self) -> None:
        expected = {Opcode.TEXT: str, Opcode.BINARY: bytes}.get(self.opcode)
        if expected is None or not isinstance(self.data, expected):
            raise TypeError(f"Message({self.opcode!r}) needs {expected} data")


@dataclass(frozen=True)
class Ping:
    payload: bytes = b""


@dataclass(frozen=True)
class Pong:
    payload: bytes = b""


@dataclass(frozen=True)
class Close:
    """A Close frame received. An empty body reads as code 1005 (§7.1.5)."""

    code: int = NO_STATUS_RECEIVED
    reason: str = ""


class Signal(enum.Enum):
    NEED_DATA = "NEED_DATA"  # feed more bytes, then ask again
    END_OF_STREAM = "END_OF_STREAM"  # the peer closed its side; nothing more will come


NEED_DATA = Signal.NEED_DATA
END_OF_STREAM = Signal.END_OF_STREAM

FrameEvent = Message | Ping | Pong | Close


def is_valid_close_code(code: int) -> bool:
    """May ``code`` appear in a Close frame on the wire? (§7.4.1, §7.4.2, IANA)

    1000-1003 and 1007-1014 are defined (1012-1014 registered with IANA since the
    RFC); 1004 is reserved, 1005, 1006 and 1015 "MUST NOT be set as a status code in
    a Close control frame"; 0-999 are "not used", 1016-2999 are reserved for future
    revisions of the RFC; 3000-4999 are for libraries, frameworks and applications.
    """
    raise NotImplementedError(
        "1000-1003, 1007-1014 and 3000-4999 may be sent in a Close frame; nothing else"
    )


def apply_mask(data: bytes | bytearray | memoryview, mask: bytes, offset: int = 0) -> bytes:
    """XOR ``data`` with the 4-byte ``mask``, starting ``offset`` bytes into the mask.

    §5.3: "Octet i of the transformed data ("transformed-octet-i") is the XOR of
    octet i of the original data ("original-octet-i") with octet at index i modulo 4
    of the masking key ("masking-key-octet-j")". Masking and unmasking are the same.
    One big-integer XOR runs in C: about 1 ms per MiB, where a per-byte Python loop
    takes ~100 ms.
    """
    raise NotImplementedError(
        "XOR octet i with mask[(offset + i) % 4]; fast: one int.from_bytes XOR, not a "
        "Python loop per byte"
    )


@dataclass
class _Header:
    fin: bool
    opcode: Opcode
    length: int
    mask: bytes | None
    received: int = 0  # payload bytes consumed so far


class FrameParser:
    """Parse frames from one peer; reassemble fragmented messages.

    ``client_side=False`` (the default) is the server role: frames must arrive masked.
    A client (``client_side=True``) must receive them unmasked.
    """

    def __init__(self, client_side: bool = False, max_message: int = DEFAULT_MAX_MESSAGE) -> None:
        self.client_side = client_side
        self.max_message = max_message
        # Your state: a bytearray buffer, whether EOF was seen, the header of the frame being
        # read, the data message being assembled (opcode, size so far, parts, an incremental
        # UTF-8 decoder for text), and the error once raised (a failed stream stays failed).

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes from the peer; ``b""`` means the peer closed its side."""
        raise NotImplementedError(
            "append to your buffer; b'' marks EOF (feeding after EOF is a RuntimeError)"
        )

    def next_event(self) -> FrameEvent | Signal:
        """The next complete event, ``NEED_DATA``, or ``END_OF_STREAM`` after EOF.

        After a ``WebSocketError`` the stream cannot be resynchronised: every later
        call raises the same error.
        """
        raise NotImplementedError(
            "the next event, NEED_DATA or END_OF_STREAM; once a WebSocketError was raised, "
            "raise the same one again on every call"
        )

    def _next_event(self) -> FrameEvent | Signal:
        raise NotImplementedError(
            "loop: read a header if none is pending, then its payload; return the first "
            "event"
        )

    def _out_of_data(self) -> Signal:
        raise NotImplementedError(
            "NEED_DATA before EOF; after EOF: END_OF_STREAM, or 1006 when cut mid-frame"
        )

    # --- header --------------------------------------------------------------------

    def _read_header(self) -> _Header | None:
        raise NotImplementedError(
            "2 bytes, then 2 or 8 length bytes (struct.unpack_from) (minimal lengths only, "
            "64-bit top bit 0), then the 4-byte mask; check everything before waiting for "
            "the payload; None while incomplete"
        )

    def _check_opcode(self, first: int) -> Opcode:
        # §5.2: "RSV1, RSV2, RSV3: 1 bit each. MUST be 0 unless an extension is
        # negotiated that defines meanings for non-zero values. If a nonzero value is
        # received and none of the negotiated extensions defines the meaning of such a
        # nonzero value, the receiving endpoint MUST _Fail the WebSocket Connection_."
        raise NotImplementedError("RSV bits set or a reserved opcode: WebSocketError(1002)")

    def _check_first_bytes(self, fin: bool, opcode: Opcode, masked: bool, length: int) -> None:
        # §5.1: "The server MUST close the connection upon receiving a frame that is
        # not masked." / "A client MUST close a connection if it detects a masked
        # frame." (Status code 1002, per §7.4.1.)
        raise NotImplementedError(
            "the MASK bit for your side; control frames <= 125 bytes and FIN set; "
            "continuation only inside a message, no new data frame inside one"
        )

    def _check_size(self, length: int) -> None:
        # §10.4: "Implementations that have implementation- and/or platform-specific
        # limitations regarding the frame size or total message size after reassembly
        # from multiple frames MUST protect themselves against exceeding those
        # limits." 1009: "it has received a message that is too big for it to
        # process" (§7.4.1). Refused on the length field, before any payload is kept.
        raise NotImplementedError(
            "1009 when this frame would take the message past max_message"
        )

    # --- payload -------------------------------------------------------------------

    def _read_payload(self, header: _Header) -> FrameEvent | Signal | None:
        """Consume payload bytes; an event when one completes, None to go on."""
        raise NotImplementedError(
            "consume payload bytes, unmask them at the right key offset; an event when a "
            "frame completes, None to go on, NEED_DATA"
        )

    def _data_chunk(self, header: _Header, chunk: bytes, final: bool) -> None:
        raise NotImplementedError(
            "add a data chunk to the message; decode text incrementally (1007 on bad UTF-8)"
        )

    def _start_message(self, opcode: Opcode) -> None:
        raise NotImplementedError(
            "a new TEXT or BINARY message: its opcode, size 0, a UTF-8 decoder for text "
            "(codecs.getincrementaldecoder)"
        )

    def _finish_message(self) -> Message:
        raise NotImplementedError("the complete Message; reset the message state")

    def _control_event(self, opcode: Opcode, payload: bytes) -> FrameEvent:
        raise NotImplementedError(
            "Ping(payload), Pong(payload), or the Close parsed from the payload"
        )


def _parse_close(payload: bytes) -> Close:
    # §5.5.1: "If there is a body, the first two bytes of the body MUST be a 2-byte
    # unsigned integer (in network byte order) representing a status code".
    raise NotImplementedError(
        "empty: Close(); 1 byte: 1002; a code that may not be sent: 1002; reason not UTF-8: "
        "1007"
    )


# --- writers -----------------------------------------------------------------------


def encode_frame(opcode: Opcode | int, payload: bytes, fin: bool = True, mask: bytes | None = None) -> bytes:
    """One frame. Servers send unmasked frames; clients pass a fresh 4-byte ``mask``.

    §5.1: "A server MUST NOT mask any frames that it sends to the client." / "a
    client MUST mask all frames that it sends to the server".
    """
    raise NotImplementedError(
        "FIN|opcode, then MASK|length in 7 bits (<126), 126 + 16 bits (<65536) or 127 + 64 "
        "bits, then the mask and the masked payload; ValueError for a control frame over "
        "125 bytes or with fin=False"
    )


def encode_text(text: str, *, mask: bytes | None = None) -> bytes:
    raise NotImplementedError("a TEXT frame of the text's UTF-8 bytes (encode_frame)")


def encode_binary(data: bytes, *, mask: bytes | None = None) -> bytes:
    raise NotImplementedError("a BINARY frame of the data (encode_frame)")


def encode_ping(payload: bytes = b"", *, mask: bytes | None = None) -> bytes:
    raise NotImplementedError("a PING frame of the payload (encode_frame)")


def encode_pong(payload: bytes = b"", *, mask: bytes | None = None) -> bytes:
    raise NotImplementedError("a PONG frame of the payload (encode_frame)")


def encode_close(code: int | None = 1000, reason: str = "", *, mask: bytes | None = None) -> bytes:
    """A Close frame; ``code=None`` sends an empty body (then ``reason`` must be empty)."""
    raise NotImplementedError(
        "a CLOSE frame: 2-byte code + UTF-8 reason, or empty for code=None; ValueError for "
        "a code that may not be sent or a body over 125 bytes"
    )

"""Body readers: how a message's end is found (RFC 9112 §6, §7); the chunked coding
both ways (``ChunkedReader`` reads it, ``encode_chunk`` and ``LAST_CHUNK`` write it).

Exercise 03 starter: this file takes the place of the lab's `protocols/http1/body.py`.
`ContentLengthReader` and `UntilCloseReader` are given; `ChunkedReader`, `encode_chunk`
and `LAST_CHUNK` are yours. Keep the names and signatures; replace each
`raise NotImplementedError(...)`. `_CHUNK_LINE` (the chunk-size line's grammar) is given.

Each reader consumes from the parser's shared receive buffer and returns `Data`,
`EndOfMessage` or `NEED_DATA`. Limits are enforced as bytes arrive: a body larger than
`max_body` fails on its Content-Length, or on the chunk header that would cross it,
before its bytes are buffered.
"""
from __future__ import annotations

import re

from ..errors import HTTPError
from .events import NEED_DATA, Data, EndOfMessage, NeedData
from .head import TOKEN, parse_fields
from .limits import Limits

__all__ = ["ContentLengthReader", "ChunkedReader", "UntilCloseReader", "BodyReader", "encode_chunk", "LAST_CHUNK"]

BodyEvent = Data | EndOfMessage | NeedData

# RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF;
# chunk-size = 1*HEXDIG; chunk-ext = *( BWS ";" BWS chunk-ext-name
# [ BWS "=" BWS chunk-ext-val ] ); chunk-ext-val = token / quoted-string.
_QUOTED = rb'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t !-~\x80-\xff])*"'
_CHUNK_LINE = re.compile(
    rb"([0-9A-Fa-f]+)(?:[ \t]*;[ \t]*" + TOKEN
    + rb"(?:[ \t]*=[ \t]*(?:" + TOKEN + rb"|" + _QUOTED + rb"))?)*"
)
# Events are immutable, so the body-less end of a message can be one shared instance.
_END = EndOfMessage()
# RFC 9112 §7.1: last-chunk = 1*("0") [ chunk-ext ] CRLF, then an empty trailer section.
LAST_CHUNK = b""  # exercise 03: the last chunk and the empty trailer section
# Sixteen hex digits already exceed any size we could hold; more is an overflow attack.
_MAX_HEX_DIGITS = 16


class ContentLengthReader:
    """Exactly `length` bytes of body (RFC 9112 §6.2)."""

    __slots__ = ("remaining",)

    def __init__(self, length: int) -> None:
        self.remaining = length

    def read(self, buf: bytearray, eof: bool) -> BodyEvent:
        if self.remaining == 0:
            return _END
        if not buf:
            if eof:
                # RFC 9112 §8: an incomplete message is an error the server can't serve.
                raise HTTPError(400, f"body ended {self.remaining} bytes early")
            return NEED_DATA
        take = min(self.remaining, len(buf))
        data = bytes(buf[:take])
        del buf[:take]
        self.remaining -= take
        return Data(data)


class ChunkedReader:
    """The chunked transfer coding (RFC 9112 §7.1), with extensions and trailers."""

    def __init__(self, limits: Limits) -> None:
        raise NotImplementedError(
            "__init__: keep the limits; count the bytes left in the current chunk and the "
            "body's total (for max_body); start in a 'size' state (size -> data -> crlf -> "
            "size ... -> trailers -> done)"
        )

    def read(self, buf: bytearray, eof: bool) -> BodyEvent:
        raise NotImplementedError(
            "read: consume from the parser's shared buffer and return one Data, "
            "EndOfMessage(trailers) or NEED_DATA; HTTPError(400) on bad framing, 413 past "
            "limits.max_body. Loop over the states. size: find CRLF (a line longer than "
            "limits.max_chunk_line is 400), parse it with _start_chunk, consume it. data: "
            "hand out what is buffered of the chunk as Data (del buf[:n]). crlf: the two "
            "bytes after the data MUST be CRLF, else 400. A size of 0 starts the trailer "
            "section. Out of bytes: NEED_DATA, or 400 at EOF (the last chunk never came)"
        )

    def _start_chunk(self, line: bytes) -> None:
        raise NotImplementedError(
            "_start_chunk: parse a chunk-size line (1*HEXDIG, then extensions that are "
            "ignored): the line must match _CHUNK_LINE exactly (else 400); more than "
            "_MAX_HEX_DIGITS significant hex digits is an overflow (400); add the size to "
            "the total and refuse with 413 as soon as it passes limits.max_body, before any "
            "data"
        )

    def _read_trailers(self, buf: bytearray, eof: bool) -> BodyEvent:
        # RFC 9112 §7.1.2: trailer-section = *( field-line CRLF ), then the final CRLF.
        raise NotImplementedError(
            "_read_trailers: a CRLF right away ends the body (EndOfMessage()); else wait "
            "for CRLFCRLF (431 past limits.max_header_bytes, resuming the search where it "
            "stopped), parse the fields with parse_fields and return EndOfMessage(trailers)"
        )

    def _need(self, eof: bool) -> NeedData:
        raise NotImplementedError(
            "_need: NEED_DATA, or HTTPError(400) when the client already closed (eof)"
        )


def encode_chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (RFC 9112 §7.1: chunk-size in hex, CRLF, the data,
    CRLF). Empty data would end the body, so it is b""."""
    raise NotImplementedError(
        "encode_chunk: the size in lowercase hex, CRLF, the data, CRLF; b'' for no data"
    )


class UntilCloseReader:
    """A response body delimited by the server closing (RFC 9112 §6.3, rule 8)."""

    __slots__ = ()

    def read(self, buf: bytearray, eof: bool) -> BodyEvent:
        if buf:
            data = bytes(buf)
            buf.clear()
            return Data(data)
        return EndOfMessage() if eof else NEED_DATA


BodyReader = ContentLengthReader | ChunkedReader | UntilCloseReader

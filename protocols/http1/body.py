"""Body readers: how a message's end is found (RFC 9112 §6, §7); the chunked coding
both ways (``ChunkedReader`` reads it, ``encode_chunk`` and ``LAST_CHUNK`` write it).

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
LAST_CHUNK = b"0\r\n\r\n"
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

    __slots__ = ("limits", "remaining", "total", "state", "trailer_search", "trailer_scanned")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.remaining = 0  # bytes left in the current chunk's data
        self.total = 0  # body bytes so far, for max_body
        self.state = "size"  # size -> data -> crlf -> size ... -> trailers -> done
        self.trailer_search = 0  # where the next search for CRLFCRLF starts
        self.trailer_scanned = 0  # bytes of the trailer section checked for bare LFs

    def read(self, buf: bytearray, eof: bool) -> BodyEvent:
        while True:
            if self.state == "size":
                end = buf.find(b"\r\n", 0, self.limits.max_chunk_line + 2)
                if end < 0:
                    if len(buf) > self.limits.max_chunk_line:
                        raise HTTPError(400, "chunk-size line too long")
                    return self._need(eof)
                self._start_chunk(bytes(buf[:end]))
                del buf[: end + 2]
                self.state = "data" if self.remaining else "trailers"
            elif self.state == "data":
                if not buf:
                    return self._need(eof)
                take = min(self.remaining, len(buf))
                data = bytes(buf[:take])
                del buf[:take]
                self.remaining -= take
                if not self.remaining:
                    self.state = "crlf"
                return Data(data)
            elif self.state == "crlf":
                if len(buf) < 2:
                    if buf and buf[:1] != b"\r":
                        raise HTTPError(400, "chunk data not followed by CRLF")
                    return self._need(eof)
                if buf[:2] != b"\r\n":
                    raise HTTPError(400, "chunk data not followed by CRLF")
                del buf[:2]
                self.state = "size"
            elif self.state == "trailers":
                return self._read_trailers(buf, eof)
            else:
                return _END

    def _start_chunk(self, line: bytes) -> None:
        match = _CHUNK_LINE.fullmatch(line)
        if match is None:
            raise HTTPError(400, f"malformed chunk-size line {line[:40]!r}")
        digits = match.group(1)
        if len(digits.lstrip(b"0")) > _MAX_HEX_DIGITS:
            raise HTTPError(400, "chunk size overflows")
        self.remaining = int(digits, 16)
        self.total += self.remaining
        if self.total > self.limits.max_body:
            raise HTTPError(413, f"chunked body exceeds {self.limits.max_body} bytes")

    def _read_trailers(self, buf: bytearray, eof: bool) -> BodyEvent:
        # RFC 9112 §7.1.2: trailer-section = *( field-line CRLF ), then the final CRLF.
        if buf[:2] == b"\r\n":
            del buf[:2]
            self.state = "done"
            return _END
        end = buf.find(b"\r\n\r\n", self.trailer_search)
        if end < 0:
            # RFC 9112 §2.2, as for the head: a bare LF is refused when it arrives, not
            # after waiting for a CRLFCRLF that a client ending lines in LF never sends.
            lf = buf.find(b"\n", self.trailer_scanned)
            while lf >= 0:
                if lf == 0 or buf[lf - 1] != 0x0D:
                    raise HTTPError(400, "bare LF in trailer section")
                lf = buf.find(b"\n", lf + 1)
            self.trailer_scanned = len(buf)
            if len(buf) > self.limits.max_header_bytes:
                raise HTTPError(431, "trailer section too large")
            self.trailer_search = max(0, len(buf) - 3)
            return self._need(eof)
        # The limits of the head apply to the trailer section too (RFC 9112 §7.1.2
        # gives it the field-line grammar); a section that arrived whole is no smaller.
        if end + 2 > self.limits.max_header_bytes:
            raise HTTPError(431, "trailer section too large")
        trailers = parse_fields(bytes(buf[: end + 2]))
        if len(trailers) > self.limits.max_headers:
            raise HTTPError(431, f"more than {self.limits.max_headers} trailer fields")
        del buf[: end + 4]
        self.state = "done"
        return EndOfMessage(trailers)

    def _need(self, eof: bool) -> NeedData:
        if eof:
            raise HTTPError(400, "chunked body ended before its last chunk")
        return NEED_DATA


def encode_chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (RFC 9112 §7.1: chunk-size in hex, CRLF, the data,
    CRLF). Empty data would end the body, so it is b""."""
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


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

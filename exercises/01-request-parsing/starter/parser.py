"""The HTTP/1.1 request parser: bytes in, events out (RFC 9112).

Exercise 01 starter: this file takes the place of the lab's
`protocols/http1/parser.py`. Keep the names and signatures; replace each
`raise NotImplementedError(...)`. The body readers in `body.py` (Content-Length and
chunked) are the lab's and yours to use: deciding *which* one a request needs is your
job (RFC 9112 §6.3); decoding chunks is exercise 03. The private helpers after
`next_event` are how the reference splits the work: use them, or write your own.

Keep the receive buffer a bytearray consumed with `del buf[:n]`, and resume the search
for the end of the head where the last one stopped: feeding a megabyte one byte at a
time must cost linear time and be refused at the limit, not after.

    parser = RequestParser()
    parser.receive_data(data)          # b"" means the client closed its side
    event = parser.next_event()        # Request, Data, EndOfMessage, ConnectionClosed
                                       # or NEED_DATA; HTTPError on a bad request

A request is `Request`, zero or more `Data`, then `EndOfMessage`; pipelined requests
follow one another. After a request that ends the connection (`Connection: close`,
HTTP/1.0 without keep-alive, or a framing the server must not trust) the parser says
`ConnectionClosed` and reads nothing more.
"""
from __future__ import annotations

from ..errors import HTTPError
from .body import BodyReader, ChunkedReader, ContentLengthReader
from .events import (
    NEED_DATA, ConnectionClosed, Data, EndOfMessage, Headers, NeedData, Request,
)
from .head import header_tokens, parse_fields, parse_request_line, valid_host
from .limits import Limits

__all__ = ["RequestParser", "Event"]

Event = Request | Data | EndOfMessage | ConnectionClosed | NeedData


class RequestParser:
    """Parses the client's side of one connection, request after request."""

    def __init__(self, limits: Limits | None = None) -> None:
        raise NotImplementedError(
            "__init__: keep `self.limits = limits or Limits()`, a bytearray buffer, an EOF "
            "flag, the body reader of the current request (None between requests), and the "
            "facts a server needs: self.keep_alive, self.expect_continue, self.upgrade"
        )

    # -- input -------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        """Add bytes from the client; `b""` means it closed its sending side."""
        raise NotImplementedError(
            "receive_data: append to the bytearray buffer; b'' sets the EOF flag"
        )

    @property
    def consumed(self) -> int:
        """Bytes of the stream consumed by the events returned so far."""
        raise NotImplementedError(
            "consumed: bytes received so far minus bytes still buffered"
        )

    @property
    def buffered(self) -> int:
        """Bytes received and not yet parsed (pipelined requests wait here)."""
        raise NotImplementedError("buffered: len(self._buf)")

    def trailing_data(self) -> bytes:
        """Take the unparsed bytes, e.g. WebSocket frames that followed an upgrade."""
        raise NotImplementedError(
            "trailing_data: return and clear the buffer; no further request is read"
        )

    # -- events ------------------------------------------------------------------
    def next_event(self) -> Event:
        """The next event, or NEED_DATA. Raises HTTPError for a bad request."""
        raise NotImplementedError(
            "next_event: while a body reader is active, return its next event "
            "(Data/EndOfMessage); otherwise look for the end of the head (CRLFCRLF). Not "
            "there yet: enforce max_request_line (414) and max_header_bytes (431) on what "
            "is buffered, then return NEED_DATA (or ConnectionClosed at a clean EOF, "
            "HTTPError(400) at EOF mid-head). There: parse the request line and the fields "
            "(parse_request_line, parse_fields), enforce max_headers (431), choose the body "
            "framing (RFC 9112 §6.3: a ContentLengthReader, a ChunkedReader or none) and "
            "return the Request"
        )

    def _read_head(self) -> Event:
        raise NotImplementedError(
            "_read_head (a helper of next_event, yours to keep or drop): find the CRLFCRLF "
            "that ends the head; not there yet: _wait_for_head; there: check the limits, "
            "parse the request line and the fields, choose the body reader (_framing), "
            "return the Request"
        )

    def _skip_empty_lines(self) -> None:
        raise NotImplementedError(
            "_skip_empty_lines (a helper): drop the empty lines (CRLF) a client may send "
            "before a request line (RFC 9112 §2.2), and start the search for the head's end "
            "again"
        )

    def _wait_for_head(self) -> NeedData | ConnectionClosed:
        """No complete head yet: check the new bytes' line ends and the limits."""
        raise NotImplementedError(
            "_wait_for_head (a helper): no complete head yet: a bare LF is 400; enforce "
            "max_request_line (414), max_header_bytes and max_headers (431) on what is "
            "buffered, looking only at the bytes that are new; at EOF: ConnectionClosed "
            "when nothing is buffered, else 400; otherwise NEED_DATA"
        )

    def _framing(self, version: bytes, headers: Headers) -> BodyReader:
        """Apply RFC 9112 §6.3 (message body length) and §9.3 (persistence); fields that
        decide neither are skipped."""
        raise NotImplementedError(
            "_framing (a helper): RFC 9112 §6.3 and §9.3 from the fields (header_tokens "
            "splits Connection and Transfer-Encoding): exactly one valid Host in HTTP/1.1 "
            "(400; valid_host), keep_alive, expect_continue (417 for any expectation but "
            "100-continue), upgrade; return the body reader: chunked (_transfer_coding), "
            "Content-Length (_content_length) or an empty body"
        )

    def _transfer_coding(
        self, version: bytes, codings: list[bytes], lengths: list[bytes]
    ) -> ChunkedReader:
        # RFC 9112 §6.1: "A server MAY reject a request that contains both
        # Content-Length and Transfer-Encoding ... Regardless, the server MUST close
        # the connection after responding": we reject, since smuggling lives here.
        raise NotImplementedError(
            "_transfer_coding (a helper): 400 for Transfer-Encoding with Content-Length, in "
            "HTTP/1.0, empty, or with chunked not last (or twice); 501 for a coding other "
            "than chunked; else ChunkedReader(self.limits)"
        )

    def _content_length(self, lengths: list[bytes]) -> int:
        # RFC 9110 §8.6: Content-Length = 1*DIGIT. A list of identical values (from
        # repeated lines or commas) may be accepted as that value; differing values
        # are an unrecoverable error (RFC 9112 §6.3 rule 5).
        raise NotImplementedError(
            "_content_length (a helper): every Content-Length value (repeated fields, comma "
            "lists) must be the same run of digits, else 400; past limits.max_body is 413 "
            "(mind a value of thousands of digits: int() of it raises)"
        )

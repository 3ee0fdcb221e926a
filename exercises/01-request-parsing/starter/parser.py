"""The HTTP/1.1 request parser: bytes in, events out (RFC 9112).

    parser = RequestParser()
    parser.receive_data(data)          # b"" means the client closed its side
    event = parser.next_event()        # Request, Data, EndOfMessage, ConnectionClosed
                                       # or NEED_DATA; HTTPError on a bad request

A request is `Request`, zero or more `Data`, then `EndOfMessage`; pipelined requests
follow one another. After a request that ends the connection (`Connection: close`,
HTTP/1.0 without keep-alive, or a framing the server must not trust) the parser says
`ConnectionClosed` and reads nothing more.

Exercise 01 starter: this file takes the place of the lab's
`protocols/http1/parser.py`. Keep the names and signatures; replace each
`raise NotImplementedError(...)`. The body readers in `body.py` (Content-Length and
chunked) are the lab's and yours to use: deciding *which* one a request needs is your
job (RFC 9112 §6.3); decoding chunks is exercise 03.

Keep the receive buffer a bytearray consumed with `del buf[:n]`, and resume the search
for the end of the head where the last one stopped: feeding a megabyte one byte at a
time must cost linear time and be refused at the limit, not after.
"""
from __future__ import annotations

from ..errors import HTTPError
from .body import BodyReader, ChunkedReader, ContentLengthReader
from .events import (
    NEED_DATA, ConnectionClosed, Data, EndOfMessage, Headers, NeedData, Request,
)
from .head import header_tokens, parse_fields, parse_request_line
from .limits import Limits

__all__ = ["RequestParser", "Event"]

Event = Request | Data | EndOfMessage | ConnectionClosed | NeedData


class RequestParser:
    """Parses the client's side of one connection, request after request."""

    def __init__(self, limits: Limits | None = None) -> None:
        raise NotImplementedError(
            "__init__: keep `self.limits = limits or Limits()`, a bytearray buffer, an EOF flag, "
            "the body reader of the current request (None between requests), and the facts a "
            "server needs: self.keep_alive, self.expect_continue, self.upgrade"
        )

    # -- input -------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        """Add bytes from the client; `b""` means it closed its sending side."""
        raise NotImplementedError("receive_data: append to the bytearray buffer; b'' sets the EOF flag")

    @property
    def consumed(self) -> int:
        """Bytes of the stream consumed by the events returned so far."""
        raise NotImplementedError("consumed: bytes received so far minus bytes still buffered")

    @property
    def buffered(self) -> int:
        """Bytes received and not yet parsed (pipelined requests wait here)."""
        raise NotImplementedError("buffered: len(self._buf)")

    def trailing_data(self) -> bytes:
        """Take the unparsed bytes, e.g. WebSocket frames that followed an upgrade."""
        raise NotImplementedError("trailing_data: return and clear the buffer; no further request is read")

    # -- events ------------------------------------------------------------------
    def next_event(self) -> Event:
        """The next event, or NEED_DATA. Raises HTTPError for a bad request."""
        raise NotImplementedError(
            "next_event: while a body reader is active, return its next event (Data/EndOfMessage); "
            "otherwise look for the end of the head (CRLFCRLF). Not there yet: enforce "
            "max_request_line (414) and max_header_bytes (431) on what is buffered, then return "
            "NEED_DATA (or ConnectionClosed at a clean EOF, HTTPError(400) at EOF mid-head). There: "
            "parse the request line and the fields, enforce max_headers (431), choose the body "
            "framing (RFC 9112 §6.3) and return the Request"
        )

"""The client side: a response parser (RFC 9112 §4, §6.3).

The lab's own clients (load generator, grader, tracer) read responses with it:

    parser = ResponseParser()
    parser.expect(b"GET")              # once per request sent, in order (pipelining)
    parser.receive_data(data)          # b"" means the server closed
    event = parser.next_event()        # Response, Data, EndOfMessage, ConnectionClosed
                                       # or NEED_DATA; HTTPError(502) on a bad response

A 1xx response is a `Response` followed directly by `EndOfMessage`; the final response
to the same request follows. After a 101 the rest of the stream is another protocol:
take it with `trailing_data()`.
"""
from __future__ import annotations

from collections import deque

from ..errors import HTTPError
from .body import BodyReader, ChunkedReader, ContentLengthReader, UntilCloseReader
from .events import NEED_DATA, ConnectionClosed, EndOfMessage, Headers, Response
from .head import header_tokens, parse_fields, parse_status_line
from .limits import Limits
from .parser import Event

__all__ = ["ResponseParser"]

# A client reads whatever body it asked for; the head limits are the server's.
_CLIENT_LIMITS = Limits(max_body=1 << 62)


class ResponseParser:
    """Parses the server's side of one connection, response after response."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or _CLIENT_LIMITS
        self._buf = bytearray()
        self._eof = False
        self._received = 0
        self._search = 0
        self._methods: deque[bytes] = deque()
        self._body: BodyReader | None = None
        self._closed = False
        self.keep_alive = True

    def expect(self, method: bytes) -> None:
        """Say that a request with this method was sent: HEAD answers carry no body."""
        self._methods.append(method)

    def receive_data(self, data: bytes) -> None:
        if data:
            self._buf += data
            self._received += len(data)
        else:
            self._eof = True

    @property
    def consumed(self) -> int:
        return self._received - len(self._buf)

    def trailing_data(self) -> bytes:
        data = bytes(self._buf)
        self._buf.clear()
        self._closed = True
        return data

    def next_event(self) -> Event | Response:
        if self._body is not None:
            try:
                event = self._body.read(self._buf, self._eof)
            except HTTPError as exc:
                raise HTTPError(502, exc.message) from None
            if type(event) is EndOfMessage:
                self._body = None
                if not self.keep_alive:
                    self._closed = True
            return event
        if self._closed:
            return ConnectionClosed()
        end = self._buf.find(b"\r\n\r\n", self._search)
        if end < 0:
            if len(self._buf) > self.limits.max_request_line + self.limits.max_header_bytes:
                raise HTTPError(502, "response head too large")
            if self._eof:
                if self._buf:
                    raise HTTPError(502, "connection closed in the middle of a response head")
                self._closed = True
                return ConnectionClosed()
            self._search = max(0, len(self._buf) - 3)
            return NEED_DATA
        self._search = 0
        line_end = self._buf.find(b"\r\n")
        line = bytes(self._buf[:line_end])
        section = bytes(self._buf[line_end + 2 : end + 2])
        del self._buf[: end + 4]
        version, status, reason = parse_status_line(line)
        try:
            headers = parse_fields(section) if section else []
        except HTTPError as exc:
            raise HTTPError(502, exc.message) from None
        self._body = self._framing(version, status, headers)
        return Response(version, status, reason, headers)

    def _framing(self, version: bytes, status: int, headers: Headers) -> BodyReader:
        method = self._methods[0] if self._methods else b"GET"
        if status >= 200 or status == 101:
            if self._methods:
                self._methods.popleft()
        lengths = [v for n, v in headers if n.lower() == b"content-length"]
        codings = [t for n, v in headers if n.lower() == b"transfer-encoding" for t in header_tokens(v)]
        connection = [t for n, v in headers if n.lower() == b"connection" for t in header_tokens(v)]
        self.keep_alive = b"close" not in connection and (
            version == b"1.1" or b"keep-alive" in connection
        )
        # RFC 9112 §6.3 rule 2: "Any 2xx (Successful) response to a CONNECT request
        # implies that the connection will become a tunnel immediately after the empty
        # line that concludes the header fields." Like a 101: the rest is not HTTP.
        if status == 101 or (method == b"CONNECT" and 200 <= status < 300):
            self._closed = True
            return ContentLengthReader(0)
        # RFC 9112 §6.3 rules 1-2: no body after HEAD, 1xx, 204, 304, or a CONNECT 2xx.
        if method == b"HEAD" or status < 200 or status in (204, 304):
            return ContentLengthReader(0)
        if codings:
            if codings[-1] != b"chunked":
                self.keep_alive = False
                return UntilCloseReader()
            return ChunkedReader(self.limits)
        if lengths:
            # RFC 9112 §6.3 rule 5: differing or invalid values are an unrecoverable
            # error; a client MUST close the connection and discard the response.
            values = {item.strip(b" \t") for value in lengths for item in value.split(b",")}
            if len(values) != 1 or not next(iter(values)).isdigit():
                raise HTTPError(502, "bad Content-Length in response")
            # int() refuses 4,300+ digits with ValueError; the limit is checked first.
            digits = values.pop().lstrip(b"0") or b"0"
            if len(digits) > 18 or int(digits) > self.limits.max_body:
                raise HTTPError(502, f"response body larger than {self.limits.max_body} bytes")
            return ContentLengthReader(int(digits))
        self.keep_alive = False
        return UntilCloseReader()

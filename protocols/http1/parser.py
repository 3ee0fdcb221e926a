"""The HTTP/1.1 request parser: bytes in, events out (RFC 9112).

    parser = RequestParser()
    parser.receive_data(data)          # b"" means the client closed its side
    event = parser.next_event()        # Request, Data, EndOfMessage, ConnectionClosed
                                       # or NEED_DATA; HTTPError on a bad request

A request is `Request`, zero or more `Data`, then `EndOfMessage`; pipelined requests
follow one another. After a request that ends the connection (`Connection: close`,
HTTP/1.0 without keep-alive, or a framing the server must not trust) the parser says
`ConnectionClosed` and reads nothing more.

The receive buffer is a bytearray consumed with `del buf[:n]`. While a head is
incomplete, each search resumes where the last one stopped (for the CRLFCRLF that ends
the head and for the LFs that end its lines), so every received byte is looked at a
bounded number of times: feeding a megabyte one byte at a time costs linear time and is
refused at the limit (414 or 431) as the bytes arrive, not after the terminator.
"""
from __future__ import annotations

from ..errors import HTTPError
from .body import BodyReader, ChunkedReader, ContentLengthReader
from .events import (
    NEED_DATA, ConnectionClosed, Data, EndOfMessage, Headers, NeedData, Request,
)
from .head import header_tokens, parse_fields, parse_request_line, valid_host
from .limits import Limits
from .memo import FRAMING_FIELDS, REQUEST_LINES, SECTIONS, remember_request_line, remember_section

__all__ = ["RequestParser", "Event"]

Event = Request | Data | EndOfMessage | ConnectionClosed | NeedData

_NO_BODY = ContentLengthReader(0)
# Limits are frozen, so every parser can share the defaults: building and validating a
# Limits per connection cost ~2 µs, a tenth of parsing a request.
_DEFAULT_LIMITS = Limits()
_new_tuple = tuple.__new__
# Host values that passed `valid_host`: a server hears the same few names on every
# request, and the set lookup costs a tenth of the regular expression.
_good_hosts: set[bytes] = set()


class RequestParser:
    """Parses the client's side of one connection, request after request."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or _DEFAULT_LIMITS
        self._buf = bytearray()
        self._eof = False
        self._search = 0  # where the next search for CRLFCRLF starts
        self._scanned = 0  # bytes of an incomplete head already checked for line ends
        self._line_end = -1  # where the request line's CRLF starts, once seen
        self._lines = 0  # line ends seen in an incomplete head
        self._body: BodyReader | None = None  # None: between requests
        self._closed = False  # no further request will be read
        self._received = 0
        # Facts about the current request, for the server that answers it.
        self.keep_alive = True
        self.expect_continue = False
        self.upgrade: bytes | None = None

    # -- input -------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        """Add bytes from the client; `b""` means it closed its sending side."""
        if data:
            self._buf += data
            self._received += len(data)
        else:
            self._eof = True

    @property
    def consumed(self) -> int:
        """Bytes of the stream consumed by the events returned so far."""
        return self._received - len(self._buf)

    @property
    def buffered(self) -> int:
        """Bytes received and not yet parsed (pipelined requests wait here)."""
        return len(self._buf)

    def trailing_data(self) -> bytes:
        """Take the unparsed bytes, e.g. WebSocket frames that followed an upgrade."""
        data = bytes(self._buf)
        self._buf.clear()
        self._closed = True
        return data

    # -- events ------------------------------------------------------------------
    def next_event(self) -> Event:
        """The next event, or NEED_DATA. Raises HTTPError for a bad request."""
        if self._body is not None:
            event = self._body.read(self._buf, self._eof)
            if type(event) is EndOfMessage:
                self._body = None
                if not self.keep_alive:
                    self._closed = True
            return event
        if self._closed:
            return ConnectionClosed()
        if not self._buf and not self._eof:  # the usual state between keep-alive requests
            return NEED_DATA
        return self._read_head()

    def _read_head(self) -> Event:
        buf = self._buf
        if not buf:  # and the client closed: a clean end
            self._closed = True
            return ConnectionClosed()
        # RFC 9112 §2.2: "a server that is expecting to receive and parse a
        # request-line SHOULD ignore at least one empty line (CRLF) received prior".
        if buf[0] == 0x0D:
            self._skip_empty_lines()
        end = buf.find(b"\r\n\r\n", self._search)
        if end < 0:
            return self._wait_for_head()
        if self._scanned:  # offsets left by an incomplete head: start afresh
            self._search = self._scanned = self._lines = 0
            self._line_end = -1
        limits = self.limits
        line, _, section = bytes(buf[: end + 2]).partition(b"\r\n")
        if len(line) > limits.max_request_line:
            raise HTTPError(414, f"request line longer than {limits.max_request_line} bytes")
        if len(section) > limits.max_header_bytes:
            raise HTTPError(431, f"header section larger than {limits.max_header_bytes} bytes")
        # Parsed once, then remembered (memo.py): a client repeats its heads.
        request_line = REQUEST_LINES.get(line) or remember_request_line(line, parse_request_line(line))
        if section:
            fields, framing = SECTIONS.get(section) or remember_section(section, parse_fields(section))
            headers = fields.copy()  # the app's to keep: a list of its own
        else:
            headers = framing = []
        del buf[: end + 4]
        if len(headers) > limits.max_headers:
            raise HTTPError(431, f"more than {limits.max_headers} header fields")
        self._body = self._framing(request_line[2], framing)
        # tuple.__new__ skips the NamedTuple's own __new__, a Python function that
        # costs as much as the rest of building the event.
        return _new_tuple(Request, (*request_line, headers))

    def _skip_empty_lines(self) -> None:
        buf = self._buf
        if buf[:2] != b"\r\n":
            return
        while buf[:2] == b"\r\n":
            del buf[:2]
        # The offsets remembered for an incomplete head no longer point where they did.
        self._search = self._scanned = self._lines = 0
        self._line_end = -1

    def _wait_for_head(self) -> NeedData | ConnectionClosed:
        """No complete head yet: check the new bytes' line ends and the limits."""
        buf = self._buf
        size = len(buf)
        limits = self.limits
        lf = buf.find(b"\n", self._scanned)
        while lf >= 0:
            # RFC 9112 §2.2: "a recipient MAY recognize a single LF as a line
            # terminator"; we refuse it (400), as a parser that did not would read
            # other lines. Refusing it here means not waiting for a CRLFCRLF that a
            # client ending lines in LF would never send.
            if lf == 0 or buf[lf - 1] != 0x0D:
                raise HTTPError(400, "bare LF in request head")
            if self._line_end < 0:
                self._line_end = lf - 1
            else:
                self._lines += 1
            lf = buf.find(b"\n", lf + 1)
        self._scanned = size
        line_end = self._line_end
        if line_end < 0:
            # A CR just received may be the first half of the line's CRLF.
            if size - buf.endswith(b"\r") > limits.max_request_line:
                raise HTTPError(414, f"request line longer than {limits.max_request_line} bytes")
        elif line_end > limits.max_request_line:
            raise HTTPError(414, f"request line longer than {limits.max_request_line} bytes")
        elif size - line_end - 2 > limits.max_header_bytes + 2:
            raise HTTPError(431, f"header section larger than {limits.max_header_bytes} bytes")
        elif self._lines > limits.max_headers:
            raise HTTPError(431, f"more than {limits.max_headers} header fields")
        if self._eof:
            if size:
                raise HTTPError(400, "connection closed in the middle of a request head")
            self._closed = True
            return ConnectionClosed()
        self._search = max(0, size - 3)
        return NEED_DATA

    def _framing(self, version: bytes, headers: Headers) -> BodyReader:
        """Apply RFC 9112 §6.3 (message body length) and §9.3 (persistence); fields that
        decide neither are skipped."""
        hosts = 0
        lengths: list[bytes] = []
        codings: list[bytes] | None = None
        connection: list[bytes] = []
        upgrade = expect = host = None
        for name, value in headers:
            lname = name.lower()
            if lname not in FRAMING_FIELDS:
                continue
            if lname == b"host":
                hosts += 1
                host = value
            elif lname == b"content-length":
                lengths.append(value)
            elif lname == b"transfer-encoding":
                codings = (codings or []) + header_tokens(value)
            elif lname == b"connection":
                connection += header_tokens(value)
            elif lname == b"expect":
                expect = value.lower()
            elif lname == b"upgrade":
                upgrade = value
        # RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to
        # any HTTP/1.1 request message that lacks a Host header field and to any request
        # message that contains more than one Host header field line".
        if hosts > 1:
            raise HTTPError(400, "more than one Host header field")
        if hosts == 0 and version == b"1.1":
            raise HTTPError(400, "HTTP/1.1 request without a Host header field")
        # ... "or a Host header field with an invalid field value" (same sentence).
        if host is not None and host not in _good_hosts:
            if valid_host(host) is None:
                raise HTTPError(400, f"invalid Host {host[:40]!r}")
            if len(_good_hosts) < 1024:
                _good_hosts.add(host)
        # RFC 9112 §9.3: close if "close" is present; HTTP/1.1 persists by default,
        # HTTP/1.0 only with "keep-alive".
        self.keep_alive = b"close" not in connection and (
            version == b"1.1" or b"keep-alive" in connection
        )
        # RFC 9110 §10.1.1: "A server that receives a 100-continue expectation in an
        # HTTP/1.0 request MUST ignore that expectation."
        self.expect_continue = False
        if expect is not None and version == b"1.1":
            if expect != b"100-continue":
                raise HTTPError(417, "only the 100-continue expectation is supported")
            self.expect_continue = True
        self.upgrade = upgrade if upgrade is not None and b"upgrade" in connection else None
        if codings is not None:
            return self._transfer_coding(version, codings, lengths)
        if lengths:
            return ContentLengthReader(self._content_length(lengths))
        # RFC 9112 §6.3 rule 7: a request with neither has a body of length zero.
        return _NO_BODY

    def _transfer_coding(
        self, version: bytes, codings: list[bytes], lengths: list[bytes]
    ) -> ChunkedReader:
        # RFC 9112 §6.1: "A server MAY reject a request that contains both
        # Content-Length and Transfer-Encoding ... Regardless, the server MUST close
        # the connection after responding": we reject, since smuggling lives here.
        if lengths:
            raise HTTPError(400, "both Content-Length and Transfer-Encoding")
        # RFC 9112 §6.1: "A server or client that receives an HTTP/1.0 message
        # containing a Transfer-Encoding header field MUST treat the message as if the
        # framing is faulty".
        if version == b"1.0":
            raise HTTPError(400, "Transfer-Encoding in an HTTP/1.0 request")
        if not codings:
            raise HTTPError(400, "empty Transfer-Encoding")
        # RFC 9112 §6.3: "If a Transfer-Encoding header field is present in a request
        # and the chunked transfer coding is not the final encoding, the message body
        # length cannot be determined reliably; the server MUST respond with 400".
        # This MUST outranks the SHOULD (501) below: `chunked, gzip` is 400.
        # A sender "MUST NOT apply the chunked transfer coding more than once" (§7).
        if b"chunked" in codings[:-1]:
            raise HTTPError(
                400, "chunked applied more than once" if codings[-1] == b"chunked"
                else "chunked is not the final transfer coding"
            )
        for coding in codings:
            if coding != b"chunked":
                # RFC 9112 §6.1: "A server that receives a request message with a
                # transfer coding it does not understand SHOULD respond with 501".
                raise HTTPError(501, f"transfer coding {coding.decode('latin-1')!r} is not implemented")
        return ChunkedReader(self.limits)

    def _content_length(self, lengths: list[bytes]) -> int:
        # RFC 9110 §8.6: Content-Length = 1*DIGIT. A list of identical values (from
        # repeated lines or commas) may be accepted as that value; differing values
        # are an unrecoverable error (RFC 9112 §6.3 rule 5).
        values = {item.strip(b" \t") for value in lengths for item in value.split(b",")}
        if len(values) != 1:
            raise HTTPError(400, "differing Content-Length values")
        value = values.pop()
        if not value.isdigit():
            raise HTTPError(400, f"malformed Content-Length {value[:20]!r}")
        # Leading zeros are digits like any other: "007" is 7. Past 18 significant
        # digits the value exceeds any limit, and int() of 4,300+ digits raises.
        digits = value.lstrip(b"0") or b"0"
        if len(digits) > 18 or int(digits) > self.limits.max_body:
            raise HTTPError(413, f"body larger than {self.limits.max_body} bytes")
        return int(digits)

"""Name the protocol elements in each direction of a reassembled connection.

The annotator runs the lab's own sans-I/O parsers (`protocols.http1`) over each
direction's stream. Their `consumed` counter says where every event ends, so an event
spans ``[consumed before, consumed after)`` of the stream; because the stream keeps
which segment carried each byte (see `reassembly`), every element can be placed in the
segments that carried it. That is the sans-I/O payoff: the parser that serves requests
also reads a capture, without a socket in sight.

What is named (RFC 9112 unless said otherwise):

- a head: "request line" or "status line", one "header field line" per field (§5),
  "end of headers" (the empty line, §2.1);
- a body: "body" (Content-Length or read until close), or for the chunked coding
  (§7.1) "chunk-size line", "chunk data", "chunk end" (the CRLF after the data),
  "last chunk", "trailer field line", "end of trailers";
- bytes the parser refuses: "malformed", with the status it would answer; a stream
  closed in the middle of a message: "incomplete message" (an SSE client leaving);
- in a ``text/event-stream`` body (WHATWG HTML §9.2): "SSE event" and "SSE comment";
- after ``101 Switching Protocols`` (RFC 6455 §5.2): "WebSocket frame", with FIN,
  opcode, the mask bit and the payload length.

Element byte ranges are offsets in their direction's stream. Body elements inside a
chunked body are located by walking the chunk framing the parser has just accepted.
The cores hand back events, not offsets, for SSE and WebSocket: `sse_blocks` and
`websocket_frames` find where each block or frame lies, and `protocols.sse` and
`protocols.websocket.frames` say what it means and whether it is valid.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Iterator

from protocols.errors import HTTPError, WebSocketError
from protocols.http1 import (
    NEED_DATA, ConnectionClosed, Data, EndOfMessage, Limits, Request, RequestParser,
    Response, ResponseParser,
)
from protocols.sse import Comment, EventStreamParser
from protocols.websocket.frames import NEED_DATA as FRAME_NEED_DATA
from protocols.websocket.frames import FrameParser

from .reassembly import Connection, Stream

__all__ = ["Element", "annotate_connection", "annotate_streams"]

UP = ">"  # client to server
DOWN = "<"  # server to client

# A capture may hold bodies of any size: the annotator reads, it does not protect.
_READ_ANYTHING = Limits(max_body=1 << 62, max_header_bytes=1 << 30, max_headers=1 << 20,
                        max_request_line=1 << 30)

WS_OPCODES = {0x0: "continuation", 0x1: "text", 0x2: "binary", 0x8: "close", 0x9: "ping", 0xA: "pong"}


@dataclass(frozen=True)
class Element:
    """A named protocol element: bytes ``[start, end)`` of one direction's stream."""

    direction: str  # ">" client to server, "<" server to client
    name: str
    start: int
    end: int
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"direction": self.direction, "name": self.name, "start": self.start,
                "end": self.end, "detail": self.detail}


@dataclass
class _Exchange:
    """What the request side tells the response side."""

    method: bytes
    upgrade: bool
    end: int  # stream offset where this request ends


def annotate_connection(conn: Connection) -> list[Element]:
    """Elements of both directions of a connection, each direction in stream order."""
    return annotate_streams(conn.upstream, conn.downstream)


def annotate_streams(upstream: Stream, downstream: Stream) -> list[Element]:
    requests, up_elements, upgrade_at = _annotate_requests(upstream.data, upstream.closed)
    down_elements, switched_at = _annotate_responses(downstream.data, downstream.closed, requests)
    if switched_at is None and upgrade_at is not None and upgrade_at < len(upstream.data):
        # The upgrade was refused: the client's next bytes are plain HTTP again.
        more, more_elements, upgrade_at = _annotate_requests(upstream.data, upstream.closed, upgrade_at)
        requests += more
        up_elements += more_elements
        down_elements, switched_at = _annotate_responses(downstream.data, downstream.closed, requests)
    if switched_at is not None:
        # RFC 9110 section 15.2.2: after 101 both sides speak the new protocol.
        down_elements += websocket_frames(downstream.data, switched_at, DOWN)
        if upgrade_at is not None:
            up_elements += websocket_frames(upstream.data, upgrade_at, UP)
    return up_elements + down_elements


# --- requests ------------------------------------------------------------------------


def _annotate_requests(
    data: bytes, closed: bool, offset: int = 0
) -> tuple[list[_Exchange], list[Element], int | None]:
    """Run the request parser over the client's stream from ``offset``.

    Returns the requests seen (for the response parser), the elements, and where an
    upgrade request ended (the client's bytes after it belong to another protocol).
    """
    parser = RequestParser(_READ_ANYTHING)
    parser.receive_data(data[offset:])
    if closed:
        parser.receive_data(b"")
    requests: list[_Exchange] = []
    elements: list[Element] = []
    head_end = chunked = None
    upgrade = False
    method = b""
    while True:
        before = offset + parser.consumed
        try:
            event = parser.next_event()
        except HTTPError as exc:
            if head_end is not None:  # the body broke off (e.g. the client closed mid-body)
                elements += _body(data, head_end, len(data), bool(chunked), UP, complete=False)
                at = offset + parser.consumed
            else:
                elements += _head_lines(data, before, _head_end(data, before), "request line", UP)
                at = before
            elements.append(_failure(UP, at, len(data), exc))
            return requests, elements, None
        after = offset + parser.consumed
        if event is NEED_DATA or type(event) is ConnectionClosed:
            break
        if type(event) is Request:
            elements += _head_lines(data, before, after, "request line", UP)
            head_end, chunked = after, _is_chunked(event.headers)
            method = event.method
            upgrade = _wants_upgrade(event.headers)
        elif type(event) is EndOfMessage:
            elements += _body(data, head_end or before, after, bool(chunked), UP, complete=True)
            requests.append(_Exchange(method, upgrade, after))
            head_end = None
            if upgrade:
                return requests, elements, after
    if head_end is not None:  # a request whose body the capture holds only in part
        elements += _body(data, head_end, len(data), bool(chunked), UP, complete=False)
        requests.append(_Exchange(method, upgrade, len(data)))
    return requests, elements, None


def _wants_upgrade(headers: list[tuple[bytes, bytes]]) -> bool:
    connection = b",".join(v for n, v in headers if n.lower() == b"connection").lower()
    return b"upgrade" in connection and any(n.lower() == b"upgrade" for n, _ in headers)


def _is_chunked(headers: list[tuple[bytes, bytes]]) -> bool:
    codings = b",".join(v for n, v in headers if n.lower() == b"transfer-encoding").lower()
    return codings.rstrip(b" \t").endswith(b"chunked")


def _content_type(headers: list[tuple[bytes, bytes]]) -> bytes:
    return next((v.lower() for n, v in headers if n.lower() == b"content-type"), b"")


# --- responses -----------------------------------------------------------------------


def _annotate_responses(
    data: bytes, closed: bool, requests: list[_Exchange]
) -> tuple[list[Element], int | None]:
    """Run the response parser over the server's stream; say where a 101 ended."""
    parser = ResponseParser(_READ_ANYTHING)
    for request in requests:
        parser.expect(request.method)
    parser.receive_data(data)
    if closed:
        parser.receive_data(b"")
    elements: list[Element] = []
    head_end = None
    chunked = event_stream = False
    while True:
        before = parser.consumed
        try:
            event = parser.next_event()
        except HTTPError as exc:
            at = before
            if head_end is not None:  # the body broke off: an event stream the client left
                elements += _body(data, head_end, len(data), chunked, DOWN, False, event_stream)
                at = parser.consumed
            elements.append(_failure(DOWN, at, len(data), exc))
            return elements, None
        after = parser.consumed
        if event is NEED_DATA or type(event) is ConnectionClosed:
            break
        if type(event) is Response:
            elements += _head_lines(data, before, after, "status line", DOWN)
            if event.status == 101:
                return elements, after
            head_end, chunked = after, _is_chunked(event.headers)
            event_stream = _content_type(event.headers).startswith(b"text/event-stream")
        elif type(event) is EndOfMessage:
            elements += _body(data, head_end or before, after, chunked, DOWN, True, event_stream)
            head_end = None
        elif type(event) is Data:
            pass  # the body is named whole at its end, from the framing
    if head_end is not None:  # a response still streaming when the capture ended
        elements += _body(data, head_end, len(data), chunked, DOWN, False, event_stream)
    return elements, None


def _failure(direction: str, at: int, end: int, exc: HTTPError) -> Element:
    """Bytes the parser refused; at the very end of a closed stream, a message cut short."""
    name = "incomplete message" if at >= end else "malformed"
    return Element(direction, name, at, end, f"{exc.status} {exc.message}")


# --- heads ---------------------------------------------------------------------------


def _head_end(data: bytes, start: int) -> int:
    end = data.find(b"\r\n\r\n", start)
    return len(data) if end < 0 else end + 4


def _head_lines(data: bytes, start: int, end: int, first: str, direction: str) -> list[Element]:
    """A head split into its lines: start line, field lines, the empty line."""
    elements: list[Element] = []
    pos = start
    seen_start_line = False
    while pos < end:
        eol = data.find(b"\n", pos, end)
        line_end = end if eol < 0 else eol + 1
        line = data[pos:line_end].rstrip(b"\r\n")
        if not line:
            name = "end of headers" if seen_start_line else "empty line"
            detail = ""
        elif not seen_start_line:
            name, detail, seen_start_line = first, _text(line), True
        else:
            name, detail = "header field line", _text(line.partition(b":")[0])
        elements.append(Element(direction, name, pos, line_end, detail))
        pos = line_end
    return elements


# --- bodies --------------------------------------------------------------------------


def _body(data: bytes, start: int, end: int, chunked: bool, direction: str,
          complete: bool, event_stream: bool = False) -> list[Element]:
    if start >= end:
        return []
    if chunked:
        elements, spans = _chunks(data, start, end, direction)
    else:
        suffix = "" if complete else " (capture ends inside it)"
        elements = [Element(direction, "body", start, end, f"{end - start} bytes{suffix}")]
        spans = [(start, end)]
    if event_stream:
        elements += _map_sse(data, spans, direction)
    return elements


def _chunks(data: bytes, start: int, end: int, direction: str) -> tuple[list[Element], list[tuple[int, int]]]:
    """Walk chunked framing (RFC 9112 §7.1) over bytes the parser accepted.

    Returns the elements and the ranges of chunk data (the decoded body's bytes).
    Stops quietly where the capture ends inside a chunk.
    """
    elements: list[Element] = []
    spans: list[tuple[int, int]] = []
    pos = start
    while pos < end:
        eol = data.find(b"\r\n", pos, end)
        if eol < 0:
            elements.append(Element(direction, "chunk-size line", pos, end, "(incomplete)"))
            return elements, spans
        line = data[pos:eol]
        try:
            size = int(line.split(b";")[0].strip(b" \t"), 16)
        except ValueError:
            elements.append(Element(direction, "malformed", pos, end, f"chunk-size line {_text(line)}"))
            return elements, spans
        if size == 0:
            elements.append(Element(direction, "last chunk", pos, eol + 2, _text(line)))
            return elements + _trailers(data, eol + 2, end, direction), spans
        elements.append(Element(direction, "chunk-size line", pos, eol + 2, f"{size} bytes"))
        data_end = min(eol + 2 + size, end)
        elements.append(Element(direction, "chunk data", eol + 2, data_end, f"{data_end - eol - 2} bytes"))
        spans.append((eol + 2, data_end))
        if data_end + 2 <= end:
            elements.append(Element(direction, "chunk end", data_end, data_end + 2))
        pos = data_end + 2
    return elements, spans


def _trailers(data: bytes, start: int, end: int, direction: str) -> list[Element]:
    elements: list[Element] = []
    pos = start
    while pos < end:
        eol = data.find(b"\r\n", pos, end)
        line_end = end if eol < 0 else eol + 2
        if eol == pos:
            elements.append(Element(direction, "end of trailers", pos, line_end))
            break
        name = data[pos:line_end].partition(b":")[0]
        elements.append(Element(direction, "trailer field line", pos, line_end, _text(name)))
        pos = line_end
    return elements


# --- Server-Sent Events --------------------------------------------------------------


def _map_sse(data: bytes, spans: list[tuple[int, int]], direction: str) -> list[Element]:
    """SSE blocks found in the decoded body, mapped back to stream offsets."""
    body = b"".join(data[s:e] for s, e in spans)
    starts: list[int] = []  # decoded offset where each span begins
    total = 0
    for s, e in spans:
        starts.append(total)
        total += e - s

    def wire(offset: int) -> int:
        i = max(0, bisect.bisect_right(starts, offset) - 1)
        return spans[i][0] + (offset - starts[i])

    meaning = EventStreamParser(comments=True)
    return [
        Element(direction, name, wire(s), wire(e - 1) + 1, _sse_meaning(meaning, body[s:e]) or detail)
        for name, s, e, detail in sse_blocks(body)
    ]


def _sse_meaning(parser: EventStreamParser, block: bytes) -> str:
    """What the SSE core makes of one block. Blocks are fed in order to one parser, so
    the last event ID carries over as the spec says; each block ends with its blank
    line, so it yields exactly its own events."""
    parts = []
    for item in parser.receive_data(block):
        if isinstance(item, Comment):
            parts.append(f"comment {item.text[:40]!r}")
        else:
            parts.append(f"event={item.type} id={item.last_event_id!r} data={item.data[:40]!r}")
    return "; ".join(parts)


def sse_blocks(body: bytes) -> Iterator[tuple[str, int, int, str]]:
    """(name, start, end, detail) of each event or comment block in an event stream.

    WHATWG HTML §9.2.5: lines end with CRLF, LF or CR; an empty line dispatches the
    event; a line starting with ":" is a comment. A block that only holds comments
    dispatches nothing: it is named "SSE comment" (the lab's heartbeats).
    """
    pos = 0
    block_start = 0
    fields: list[str] = []
    comments = 0
    size = len(body)
    if body.startswith(b"\xef\xbb\xbf"):
        pos = block_start = 3
    while pos < size:
        cr, lf = body.find(b"\r", pos), body.find(b"\n", pos)
        ends = [i for i in (cr, lf) if i >= 0]
        if not ends:
            break
        eol = min(ends)
        next_pos = eol + 2 if body[eol : eol + 2] == b"\r\n" else eol + 1
        if eol == size - 1 and body[eol:] == b"\r":
            break  # a CR at the end may be the first half of CRLF: wait
        line = body[pos:eol]
        if not line:
            if fields:
                yield "SSE event", block_start, next_pos, " ".join(fields)
            elif comments:
                yield "SSE comment", block_start, next_pos, f"{comments} comment line(s)"
            fields, comments, block_start = [], 0, next_pos
        elif line.startswith(b":"):
            comments += 1
        else:
            name, _, value = line.partition(b":")
            value = value[1:] if value.startswith(b" ") else value
            fields.append(f"{_text(name)}={_text(value[:40])}")
        pos = next_pos
    if block_start < size:
        yield "SSE event (incomplete)", block_start, size, " ".join(fields)


# --- WebSocket -----------------------------------------------------------------------


def websocket_frames(data: bytes, start: int, direction: str) -> list[Element]:
    """One element per frame (RFC 6455 §5.2) from ``start`` to the end of the stream.

    The frame boundaries come from the small header reader below (the frames core
    hands back whole messages, not frame offsets); the frames core judges each frame,
    and a violation is named "malformed" with the close code the lab would send.
    """
    elements: list[Element] = []
    judge = _frame_judge(client_side=direction == DOWN)
    pos = start
    while pos < len(data):
        header = _frame_header(data, pos)
        if header is None:
            elements.append(Element(direction, "WebSocket frame (incomplete)", pos, len(data)))
            break
        fin, opcode, masked, length, payload_at = header
        end = min(payload_at + length, len(data))
        payload = data[payload_at:end]
        if masked:
            key = data[payload_at - 4 : payload_at]
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        detail = (f"FIN={fin} opcode={opcode:#x} ({WS_OPCODES.get(opcode, 'reserved')}) "
                  f"MASK={int(masked)} len={length}")
        if opcode == 0x8 and len(payload) >= 2:
            detail += f" code={int.from_bytes(payload[:2], 'big')}"
        elif opcode == 0x1:
            detail += f" text={_text(payload[:60])}"
        name = "WebSocket frame" if end == payload_at + length else "WebSocket frame (incomplete)"
        elements.append(Element(direction, name, pos, end, detail))
        verdict = judge(data[pos:end]) if judge is not None else ""
        if verdict:
            elements.append(Element(direction, "malformed", pos, end, verdict))
            judge = None  # a failed parser stays failed: judge no further frames
        pos = end
    return elements


def _frame_judge(client_side: bool):
    """A function feeding frames to the frames core: returns "" or what broke."""
    parser = FrameParser(client_side=client_side, max_message=1 << 62)

    def judge(frame: bytes) -> str:
        parser.receive_data(frame)
        try:
            while parser.next_event() is not FRAME_NEED_DATA:
                pass
        except WebSocketError as exc:
            return f"close code {exc.close_code}: {exc.message}"
        return ""

    return judge


def _frame_header(data: bytes, pos: int) -> tuple[int, int, bool, int, int] | None:
    """(FIN, opcode, masked, payload length, payload offset), or None if cut short."""
    if pos + 2 > len(data):
        return None
    first, second = data[pos], data[pos + 1]
    length = second & 0x7F
    at = pos + 2
    if length == 126:
        if at + 2 > len(data):
            return None
        length, at = int.from_bytes(data[at : at + 2], "big"), at + 2
    elif length == 127:
        if at + 8 > len(data):
            return None
        length, at = int.from_bytes(data[at : at + 8], "big"), at + 8
    masked = bool(second & 0x80)
    if masked:
        at += 4
        if at > len(data):
            return None
    return first >> 7, first & 0x0F, masked, length, at


def _text(data: bytes) -> str:
    return data.decode("latin-1").encode("unicode_escape").decode("ascii")

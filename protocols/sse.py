"""Server-Sent Events: the ``text/event-stream`` encoder and parser, sans-I/O.

Implements WHATWG HTML, "Server-sent events":
  §9.2.5 "Parsing an event stream" (BOM, line ends, the stream grammar),
  §9.2.6 "Interpreting an event stream" (fields, dispatch, last event ID, retry),
  §9.2.7 "Authoring notes" (comments as keep-alive).
https://html.spec.whatwg.org/multipage/server-sent-events.html

Bytes in, events out: the parser never reads a socket. Feed it with
``receive_data(chunk)`` (``b""`` means end of stream); it returns the events the
chunk completed, in order.

Why lines are split as bytes and decoded one line at a time: CR (0x0D) and LF (0x0A)
never occur inside a UTF-8 multibyte sequence, and a UTF-8 decoder that replaces
errors ends any pending partial sequence at an ASCII byte. So decoding each complete
line on its own gives exactly the characters that decoding the whole stream would,
and a character split across two chunks is decoded once its line is complete. The
buffer is a ``bytearray`` with a remembered scan offset: no byte is searched twice
and consumed bytes are removed once per chunk with ``del buf[:n]``.

Encoder note: the spec's line ends are CR, LF and CRLF, and a parser joins the
``data`` lines of one event with LF. So a payload containing CR or CRLF comes out of
any spec-following parser with LF in their place: ``"a\\r\\nb"`` and ``"a\\rb"`` are
received as ``"a\\nb"``. That is the spec, not a loss we could avoid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "Event",
    "Comment",
    "EventStreamParser",
    "encode_event",
    "encode_comment",
    "encode_retry",
    "DEFAULT_EVENT_TYPE",
]

# "Initialize event's type attribute to "message"" (§9.2.6, dispatch step 5).
DEFAULT_EVENT_TYPE = "message"

# "The UTF-8 decode algorithm strips one leading UTF-8 Byte Order Mark (BOM), if any."
_BOM = b"\xef\xbb\xbf"
_LINE_END = re.compile(rb"[\r\n]")
# end-of-line = ( cr lf / cr / lf ): used by the encoder to split payloads the same way.
_TEXT_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Event:
    """A dispatched event (§9.2.6 "dispatch the event").

    ``type`` is the ``event`` field or ``"message"``; ``data`` is the ``data`` lines
    joined with LF; ``last_event_id`` is the last ``id`` seen in the stream so far
    (it persists across events); ``retry`` is the reconnection time in milliseconds
    set by the stream so far, or None if the stream never set one.
    """

    type: str
    data: str
    last_event_id: str = ""
    retry: int | None = None


@dataclass(frozen=True)
class Comment:
    """A comment line (``:`` first), e.g. a heartbeat. Yielded only on request.

    ``text`` is what follows the colon, with one leading space removed (the same rule
    as for field values), so ``encode_comment(t)`` parses back to ``Comment(t)``.
    """

    text: str


class EventStreamParser:
    """Parse a ``text/event-stream`` exactly as the spec's algorithm does.

    ``last_event_id`` and ``retry`` are the parser's view of the stream: a client
    reconnecting sends ``Last-Event-ID: <last_event_id>`` after waiting ``retry`` ms.
    """

    def __init__(self, *, comments: bool = False, last_event_id: str = "") -> None:
        self.comments = comments
        self.last_event_id = last_event_id
        self.retry: int | None = None
        self._buf = bytearray()
        self._scan = 0  # bytes of _buf already known to hold no CR or LF
        self._at_stream_start = True
        # A CR ended the previous line; an LF right after it belongs to that line end.
        self._skip_lf = False
        self._data: list[str] = []
        self._event_type = ""
        self._id_buffer = last_event_id
        self._eof = False

    def receive_data(self, data: bytes) -> list[Event | Comment]:
        """Feed bytes; ``b""`` ends the stream. Returns the events completed."""
        if self._eof:
            raise RuntimeError("receive_data() called after end of stream")
        if not data:
            return self._end_of_stream()
        self._buf += data
        if self._at_stream_start and not self._strip_bom():
            return []
        out: list[Event | Comment] = []
        buf = self._buf
        start = 0
        while True:
            if self._skip_lf and start < len(buf):
                # "end-of-line = ( cr lf / cr / lf )": the LF of a CRLF split across
                # chunks, or right after the CR, is part of the line end already seen.
                self._skip_lf = False
                if buf[start] == 0x0A:
                    start += 1
                    continue
            match = _LINE_END.search(buf, max(start, self._scan))
            if match is None:
                break
            end = match.start()
            self._process_line(bytes(buf[start:end]), out)
            start = end + 1
            self._skip_lf = buf[end] == 0x0D
            self._scan = start
        del buf[:start]
        self._scan = len(buf)
        return out

    def _strip_bom(self) -> bool:
        """Drop one leading BOM. False while the first bytes may still become one."""
        head = bytes(self._buf[:3])
        if len(head) < 3 and _BOM.startswith(head):
            return False
        if head == _BOM:
            del self._buf[:3]
        self._at_stream_start = False
        return True

    def _end_of_stream(self) -> list[Event | Comment]:
        # "Once the end of the file is reached, any pending data must be discarded.
        # (If the file ends in the middle of an event, before the final empty line,
        # the incomplete event is not dispatched.)"
        self._eof = True
        self._buf.clear()
        self._data.clear()
        self._event_type = ""
        return []

    def _process_line(self, raw: bytes, out: list[Event | Comment]) -> None:
        line = raw.decode("utf-8", errors="replace")
        # "If the line is empty (a blank line): Dispatch the event."
        if not line:
            event = self._dispatch()
            if event is not None:
                out.append(event)
            return
        # "If the line starts with a U+003A COLON character (:): Ignore the line."
        if line[0] == ":":
            if self.comments:
                out.append(Comment(_strip_one_space(line[1:])))
            return
        # "If the line contains a U+003A COLON character (:): Collect the characters on
        # the line before the first U+003A COLON character (:), and let field be that
        # string. Collect the characters on the line after the first U+003A COLON
        # character (:), and let value be that string. If value starts with a U+0020
        # SPACE character, remove it from value."
        # "Otherwise, the string is not empty but does not contain a U+003A COLON
        # character (:): ... using the whole line as the field name, and the empty
        # string as the field value."
        field, colon, value = line.partition(":")
        if colon:
            value = _strip_one_space(value)
        self._process_field(field, value)

    def _process_field(self, field: str, value: str) -> None:
        if field == "event":
            # "Set the event type buffer to field value."
            self._event_type = value
        elif field == "data":
            # "Append the field value to the data buffer, then append a single U+000A
            # LINE FEED (LF) character to the data buffer."
            self._data.append(value)
        elif field == "id":
            # "If the field value does not contain U+0000 NULL, then set the last event
            # ID buffer to the field value. Otherwise, ignore the field."
            if "\0" not in value:
                self._id_buffer = value
        elif field == "retry":
            # "If the field value consists of only ASCII digits, then interpret the
            # field value as an integer in base ten, and set the event stream's
            # reconnection time to that integer. Otherwise, ignore the field."
            # An empty value is ignored too, as Chromium and Firefox do.
            if value and value.isascii() and value.isdigit():
                self.retry = int(value)
        # "Otherwise: The field is ignored."

    def _dispatch(self) -> Event | None:
        # "1. Set the last event ID string of the event source to the value of the
        # last event ID buffer." (Even when no event follows: an id-only block counts.)
        self.last_event_id = self._id_buffer
        # "2. If the data buffer is an empty string, set the data buffer and the event
        # type buffer to the empty string and return."
        if not self._data:
            self._event_type = ""
            return None
        # "3. If the data buffer's last character is a U+000A LINE FEED (LF) character,
        # then remove the last character from the data buffer." Joining with LF and
        # never appending the final one is the same thing.
        data = "\n".join(self._data)
        event = Event(
            type=self._event_type or DEFAULT_EVENT_TYPE,
            data=data,
            last_event_id=self.last_event_id,
            retry=self.retry,
        )
        # "Set the data buffer and the event type buffer to the empty string."
        self._data = []
        self._event_type = ""
        return event


def _strip_one_space(value: str) -> str:
    return value[1:] if value.startswith(" ") else value


def _field(name: bytes, value: str) -> bytes:
    # "If value starts with a U+0020 SPACE character, remove it from value": always
    # writing "name: value" makes a value that itself starts with a space survive.
    if not value:
        return name + b":\n"
    return name + b": " + value.encode("utf-8") + b"\n"


def encode_event(
    data: str | None = None,
    *,
    event: str | None = None,
    id: str | None = None,  # noqa: A002 - the spec's field name
    retry: int | None = None,
) -> bytes:
    """One event block, ending with the blank line that dispatches it.

    ``data`` is split at CR, LF and CRLF into one ``data:`` line each; a parser joins
    them with LF, so CR and CRLF in ``data`` arrive as LF (the spec's line ends).
    ``data=None`` writes no ``data`` line (no event is dispatched: useful to send
    only an ``id`` or ``retry``); ``data=""`` dispatches an event with empty data.
    ``event`` and ``id`` may not contain CR or LF (they would end the line) and
    ``id`` may not contain NUL (a parser ignores such an id): ValueError.
    """
    out = bytearray()
    if event is not None:
        if "\r" in event or "\n" in event:
            raise ValueError("SSE event type may not contain CR or LF")
        out += _field(b"event", event)
    if id is not None:
        if "\r" in id or "\n" in id or "\0" in id:
            raise ValueError("SSE id may not contain CR, LF or NUL")
        out += _field(b"id", id)
    if retry is not None:
        out += encode_retry(retry)
    if data is not None:
        for line in _TEXT_LINE_END.split(data):
            out += _field(b"data", line)
    out += b"\n"
    return bytes(out)


def encode_comment(text: str = "") -> bytes:
    """A comment (``: text``), one line per line of ``text``; a parser ignores it.

    "Legacy proxy servers are known to, in certain cases, drop HTTP connections after
    a short timeout. To protect against such proxy servers, authors can include a
    comment line (one starting with a ':' character) every 15 seconds or so." (§9.2.7)
    A comment dispatches nothing, so it may be sent between any two events.
    """
    return b"".join(
        b":" + (b" " + line.encode("utf-8") if line else b"") + b"\n"
        for line in _TEXT_LINE_END.split(text)
    )


def encode_retry(ms: int) -> bytes:
    """``retry: ms``: the client's reconnection time. Takes effect when parsed."""
    if isinstance(ms, bool) or not isinstance(ms, int) or ms < 0:
        raise ValueError(f"SSE retry must be a non-negative int, got {ms!r}")
    return b"retry: %d\n" % ms

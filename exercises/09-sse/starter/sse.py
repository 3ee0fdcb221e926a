"""Server-Sent Events: the ``text/event-stream`` encoder and parser, sans-I/O.

This is the exercise's starter: the names, signatures and docstrings are the lab's;
each body raises NotImplementedError with a hint. The spec's own words are the best
guide: keep the section open beside you and write one branch per sentence.

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
        # Your state: a bytearray buffer (and how far you have scanned it), whether the BOM
        # question is settled, whether the last line ended with CR (an LF right after it, maybe
        # in the next chunk, is part of that line end), the data lines, the event type buffer
        # and the last event ID buffer (which starts as last_event_id).

    def receive_data(self, data: bytes) -> list[Event | Comment]:
        """Feed bytes; ``b""`` ends the stream. Returns the events completed."""
        raise NotImplementedError(
            "buffer the bytes; strip one leading BOM; cut complete lines at CR, LF or CRLF "
            "(a CRLF may be split across two calls); process each line; b'' is the end of "
            "the stream: drop what is pending"
        )

    def _strip_bom(self) -> bool:
        """Drop one leading BOM. False while the first bytes may still become one."""
        raise NotImplementedError(
            "drop one leading BOM; return False while the first bytes may still become one"
        )

    def _end_of_stream(self) -> list[Event | Comment]:
        # "Once the end of the file is reached, any pending data must be discarded.
        # (If the file ends in the middle of an event, before the final empty line,
        # the incomplete event is not dispatched.)"
        raise NotImplementedError(
            "the stream ended: an unterminated event is discarded, not dispatched"
        )

    def _process_line(self, raw: bytes, out: list[Event | Comment]) -> None:
        raise NotImplementedError(
            "decode as UTF-8 (errors='replace'); blank: dispatch; ':' first: a comment; "
            "else field ':' value with one leading space removed, or the whole line as the "
            "field with an empty value"
        )

    def _process_field(self, field: str, value: str) -> None:
        raise NotImplementedError(
            "event / data / id (unless it contains NUL) / retry (ASCII digits only); "
            "anything else is ignored"
        )

    def _dispatch(self) -> Event | None:
        # "1. Set the last event ID string of the event source to the value of the
        # last event ID buffer." (Even when no event follows: an id-only block counts.)
        raise NotImplementedError(
            "set last_event_id from the id buffer; no data lines: reset the type, no event; "
            "else an Event with the data lines joined by LF, then reset data and type"
        )


def _strip_one_space(value: str) -> str:
    raise NotImplementedError("the value without one leading U+0020 SPACE, if it has one")


def _field(name: bytes, value: str) -> bytes:
    # "If value starts with a U+0020 SPACE character, remove it from value": always
    # writing "name: value" makes a value that itself starts with a space survive.
    raise NotImplementedError(
        "`name: value` and LF (`name:` alone for an empty value), the value as UTF-8"
    )


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
    raise NotImplementedError(
        "`event: `, `id: `, `retry: ` lines, then one `data: ` line per line of data (split "
        "at CRLF, CR and LF), then the blank line; ValueError for CR/LF in event or id, NUL "
        "in id"
    )


def encode_comment(text: str = "") -> bytes:
    """A comment (``: text``), one line per line of ``text``; a parser ignores it.

    "Legacy proxy servers are known to, in certain cases, drop HTTP connections after
    a short timeout. To protect against such proxy servers, authors can include a
    comment line (one starting with a ':' character) every 15 seconds or so." (§9.2.7)
    A comment dispatches nothing, so it may be sent between any two events.
    """
    raise NotImplementedError("one `: line` per line of text (`:` alone for an empty line)")


def encode_retry(ms: int) -> bytes:
    """``retry: ms``: the client's reconnection time. Takes effect when parsed."""
    raise NotImplementedError(
        "`retry: <ms>` and a line end; ValueError unless ms is a non-negative int (not a "
        "bool)"
    )

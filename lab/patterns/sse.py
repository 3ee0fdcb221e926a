"""Server-Sent Events from the broker: `GET /topics/{t}/events`.

WHATWG HTML, "Server-sent events" (§9.2): the response is `text/event-stream`, a body
that never ends on its own. Each broker message becomes one event whose `id` is its
offset, so a browser that loses the connection reconnects with `Last-Event-ID: <offset>`
and this endpoint resumes right after it: no gap, no duplicate.

    HTTP/1.1 200 OK
    Content-Type: text/event-stream
    Cache-Control: no-store
    Transfer-Encoding: chunked          (no Content-Length: the body has no end)

    retry: 1000                         once, first
    id: 1                               one block per message
    data: hello
                                        (blank line: "dispatch the event")
    : heartbeat                         after --sse-heartbeat seconds of silence

The stream is a cursor into the broker's log, not a queue: `pull()` reads the messages
after the cursor and encodes them (the encoding of one message is cached and shared by
every subscriber). Nothing is buffered per client beyond the bytes the I/O model has not
written yet.

Choices (also in the README):
- **Where a stream starts.** `Last-Event-ID` (the header a reconnecting EventSource
  sends) wins; else `?lastEventId=N` or `?after=N` (for fetch()-based readers and
  polyfills, which cannot set the header on the first request); else 0: every message
  the broker still holds, like `GET /topics/{t}?after=0`. A value that is not a decimal
  number is 400 (the server wrote every id it can get back). An id past the newest
  offset (the broker is in memory: a restarted server counts from 1 again) starts at
  the newest offset, as the topic poll does, instead of waiting for offsets that will
  not come for a while.
- **`retry`** is sent once, as the first line, 1000 ms (browsers default to ~3 s; on a
  lab's loopback a quick resume is the interesting behaviour). It is not followed by a
  blank line of its own: a blank line with no data still "sets the last event ID
  string", and a spec-literal parser would reset it to "" there.
- **Data** is the message as UTF-8 text. SSE carries only text, so bytes that are not
  valid UTF-8 are shown as U+FFFD (the same `data` the topic poll shows; the poll and the
  WebSocket also carry `data_base64` with the exact bytes). CR and CRLF inside a message
  arrive as LF: those are the format's line ends (see `protocols.sse.encode_event`).
- **Pruned offsets.** When retention dropped messages the client asked for (its resume
  point is older than the oldest message held), it gets one
  `event: pruned` with `data: {"after": N, "oldest": O}` (offsets N+1 .. O-1 are lost)
  and no `id`, then the stream goes on from the oldest message still held. An
  EventSource sees it only with `addEventListener("pruned", ...)`; `onmessage` readers
  are not disturbed by it.
- **Heartbeat.** A comment `: heartbeat` once `--sse-heartbeat` seconds (default 15,
  the spec's "every 15 seconds or so") passed without any byte sent: it keeps idle
  intermediaries from cutting the connection and lets the server notice a client that
  left (the write fails) even when the topic is quiet.
- **Fairness.** A stream that is far behind (a resume over thousands of messages) hands
  over at most `BURST` bytes, then says "nothing now" with a deadline of now, so the
  I/O model serves everyone else before it continues.
- **A client that stops reading.** Its stream never queues messages; it is a cursor
  into the broker's log. While the client has not taken the previous output (the
  kernel's socket buffers are full and bytes wait in the I/O model), the stream is not
  advanced: nothing more is read from the broker for it. Once the kernel has taken it
  all the stream goes on from its cursor; a client that does not take it within
  `keepalive_timeout` (30 s) is dropped. `epoll`, `asyncio` and `uvloop` hold the
  stream back; `blocking`, `threads` and `pool` block the connection's thread in
  `sendall()` with that timeout, which comes to the same. So a slow client costs the
  kernel's buffers plus one turn's output (`BURST`, or one message if larger), a fast
  reader of a message larger than `max_send_buffer` is never dropped for it, and a
  client that falls behind retention gets `event: pruned`. When a client is dropped its
  subscription is freed, other subscribers are unaffected, and an EventSource
  reconnects with `Last-Event-ID`, losing nothing that retention still holds.
"""
from __future__ import annotations

import json
from functools import lru_cache
from time import monotonic

from protocols.errors import HTTPError
from protocols.http1 import Request
from protocols.sse import encode_comment, encode_event, encode_retry

from ..app import Response, Wake
from ..broker import Broker, Subscription
from ..router import query_params, split_target

__all__ = ["EventStream", "sse_response", "resume_point", "SSE_HEADERS", "RETRY_MS"]

SSE_HEADERS = [(b"Content-Type", b"text/event-stream"), (b"Cache-Control", b"no-store")]
# The reconnection time we ask for, in milliseconds (see "retry" above).
RETRY_MS = 1000
# Messages per broker read: the broker's own default batch.
BATCH = 1000
# Bytes one stream hands over before letting other connections go first: a few socket
# buffers' worth, so a long catch-up neither starves the loop nor piles up unsent.
BURST = 256 * 1024
HEARTBEAT = encode_comment("heartbeat")
# Encodings cached for messages up to this size, at most CACHE_ENTRIES of them: every
# subscriber of a topic sends the same bytes, but the cache must not keep pruned
# megabytes alive (bound: about 2 x 8 KiB x 2048 = 32 MiB). Larger messages are
# encoded per subscriber; their cost is in the copying anyway.
CACHE_MAX_MESSAGE = 8 * 1024
CACHE_ENTRIES = 2048
# Longest id we parse: offsets fit in 18 decimal digits long before they overflow.
MAX_ID_DIGITS = 18


def _encode_message(offset: int, data: bytes) -> bytes:
    return encode_event(data.decode("utf-8", "replace"), id=str(offset))


_encode_cached = lru_cache(maxsize=CACHE_ENTRIES)(_encode_message)


def encode_message(offset: int, data: bytes) -> bytes:
    """One broker message as an event block. Small ones are cached: `bytes` caches its
    own hash, so for the 1,000th subscriber a hit costs a dict lookup."""
    if len(data) <= CACHE_MAX_MESSAGE:
        return _encode_cached(offset, data)
    return _encode_message(offset, data)


class EventStream:
    """A `Stream` (see `lab/app.py`): the event stream of one topic from one offset."""

    def __init__(self, broker: Broker, topic: str, after: int, heartbeat: float,
                 *, retry_ms: int = RETRY_MS) -> None:
        self.broker = broker
        self.topic = topic
        self.heartbeat = heartbeat
        last = broker.last_offset(topic)
        self.after = min(max(after, 0), last)  # the cursor: the last offset sent
        self._preamble = encode_retry(retry_ms)
        self._subscription: Subscription | None = None
        self._wake: Wake | None = None
        self._given = 0  # bytes handed over since we last said "nothing now"
        self._sent_at = monotonic()
        self._ended = False
        self.deadline: float | None = self._sent_at + heartbeat

    # -- the Waitable face --------------------------------------------------------------
    def subscribe(self, wake: Wake) -> None:
        self._wake = wake
        self._subscription = self.broker.subscribe(self.topic, wake)

    def cancel(self) -> None:
        """The client went away (or the stream ended): free the subscription."""
        if self._subscription is not None:
            self.broker.unsubscribe(self._subscription)
            self._subscription = None

    @property
    def subscribed(self) -> bool:
        return self._subscription is not None

    def end(self) -> None:
        """End the response cleanly (any thread). The client sees the body end; an
        EventSource reconnects after `retry` ms with `Last-Event-ID`."""
        self._ended = True
        if self._wake is not None:
            self._wake()

    # -- the Stream face ----------------------------------------------------------------
    def pull(self) -> bytes | None:
        if self._ended:
            self.cancel()
            return None
        if self._given >= BURST:
            # Others first: the I/O model ticks us again once it has served them.
            self._given = 0
            self.deadline = monotonic()
            return b""
        out = self._read()
        now = monotonic()
        if out:
            self._given += len(out)
            self._sent_at = now
        else:
            self._given = 0
            if now >= self._sent_at + self.heartbeat:
                out = HEARTBEAT
                self._sent_at = now
        self.deadline = self._sent_at + self.heartbeat
        return out

    def _read(self) -> bytes:
        parts: list[bytes] = []
        if self._preamble:
            parts.append(self._preamble)
            self._preamble = b""
        batch = self.broker.read(self.topic, self.after, BATCH)
        if batch.pruned and batch.oldest > self.after + 1:
            notice = json.dumps({"after": self.after, "oldest": batch.oldest})
            parts.append(encode_event(notice, event="pruned"))
            self.after = batch.oldest - 1  # told once: the cursor moves past the gap
        size = 0
        for message in batch.messages:
            block = encode_message(message.offset, message.data)
            parts.append(block)
            self.after = message.offset
            size += len(block)
            if size >= BURST:  # the rest on the next pull
                break
        return b"".join(parts)


def resume_point(request: Request) -> int:
    """The offset to start after: `Last-Event-ID`, else `?lastEventId=`/`?after=`, else 0."""
    value: bytes | str | None = None
    for name, field in request.headers:
        if name.lower() == b"last-event-id":
            value = field
    if value is not None:
        value = value.decode("latin-1")
    if not value:  # absent, or empty: the spec's client sends no header for ""
        params = query_params(split_target(request.target)[1])
        value = params.get("lastEventId") or params.get("after")
    if not value:
        return 0
    if not (value.isascii() and value.isdigit() and len(value) <= MAX_ID_DIGITS):
        raise HTTPError(400, "Last-Event-ID (or after=) must be a broker offset, a decimal number")
    return int(value)


def sse_response(broker: Broker, topic: str, request: Request, heartbeat: float) -> Response:
    """The 200 response whose body is the topic's event stream."""
    stream = EventStream(broker, topic, resume_point(request), heartbeat)
    return Response(200, list(SSE_HEADERS), stream)

"""Topics: publish to the broker, and read it by short polling or long polling.

    POST /topics/{t}                  body = the message -> 201 {"offset": n}
    GET /topics/{t}?after=N           -> 200 {"messages": [...], "next": n,
                                              "oldest": o, "pruned": false}
    GET /topics/{t}?after=N&wait=S    the same, held until a message after N exists
                                      or S seconds pass (then "messages": [])
    GET /topics/{t}/stats             -> {"topic", "waiters", "last", "oldest"}

Each message is `{"offset": n, "data": "text", "time": 1732790000.123}` (`time` =
seconds since the epoch when it was published). The reader keeps a cursor: it passes
the `next` it got as `after` and so sees every message once, in order, without gaps
(Kafka's fetch works the same way: offset in, records and the next offset out).

- **Short polling** answers at once, with whatever is there (maybe nothing).
- **Long polling** (`wait=S`) is the Deferred `TopicWait`: it subscribes to the topic
  in the broker, so a publish on any thread calls the connection's `wake()`; when woken
  it reads again and answers if there is something after N. At the deadline it answers
  an empty list (with `next` = N): an empty answer, not an error. If a message arrived
  between the first read and the subscription, the poll right after subscribing (the
  connection always polls once) finds it: nothing is lost in that gap. The client that
  leaves is noticed by the connection, which calls `cancel()`: the subscription goes.

Choices, documented here and in the README:
- `after` defaults to 0 (from the beginning); `limit` (default and maximum 1000) bounds
  a batch; `wait` is clamped to `LONG_POLL_MAX_WAIT` (60 s). Malformed numbers: 400.
- Data is shown as UTF-8 text. A message that is not valid UTF-8 gets `"data"` decoded
  with U+FFFD replacing the bad bytes, plus `"data_base64"` with the exact bytes:
  text readers keep working, and nothing is lost for those who need the bytes.
- Pruned offsets (retention dropped them, see `lab/broker.py`) are answered with 200,
  the messages still held, `"oldest"` (the oldest offset still held) and
  `"pruned": true`. Not 410 Gone: the client gets what remains in the same round trip,
  and learns exactly which offsets it missed (after+1 .. oldest-1).
- `after` past the newest offset (the broker is in memory: a restarted server starts
  again from 1) is answered at once with `next` = the newest offset, so a client that
  is ahead resynchronises instead of waiting for offsets that will not come for a while.
- Topic names: 1 to 128 of `A-Z a-z 0-9 . _ -` (else 400): they are echoed into JSON
  and SSE and must stay plain.
- A message is at most `--max-body` bytes (413 past that; the lab app's `limited`).
- `GET /topics/{t}/stats` exposes the broker's waiter count for that topic: long polls
  held right now, plus any SSE/WebSocket subscribers. Tests use it to show that waiters
  whose clients left are freed.
"""
from __future__ import annotations

import base64
import re
from time import monotonic
from typing import Callable

from protocols.errors import HTTPError
from protocols.http1 import Headers, Request

from ..app import BodyReader, Response, buffered, json_response
from ..broker import Batch, Broker, Message, Subscription
from ..router import query_params, split_target
from .common import LONG_POLL_MAX_WAIT, query_number

__all__ = ["Topics", "TopicWait", "TOPIC", "message_view", "batch_view"]

TOPIC = re.compile(r"[A-Za-z0-9._-]{1,128}")
# At most this many messages in one answer (also the default): Kafka's max.poll.records
# defaults to 500; a thousand short lab messages fit in well under a megabyte.
MAX_BATCH = 1000


def check_topic(topic: str) -> str:
    if not TOPIC.fullmatch(topic):
        raise HTTPError(400, "a topic name is 1-128 of A-Z a-z 0-9 . _ -")
    return topic


def message_view(message: Message) -> dict:
    """One message as JSON: UTF-8 text, plus base64 of the bytes if they are not UTF-8."""
    try:
        return {"offset": message.offset, "data": message.data.decode("utf-8"),
                "time": message.time}
    except UnicodeDecodeError:
        return {"offset": message.offset, "data": message.data.decode("utf-8", "replace"),
                "data_base64": base64.b64encode(message.data).decode(), "time": message.time}


def batch_view(batch: Batch) -> dict:
    return {"messages": [message_view(m) for m in batch.messages], "next": batch.next,
            "oldest": batch.oldest, "pruned": batch.pruned}


class Topics:
    """The `/topics/{t}` routes over one shared broker."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    # -- POST /topics/{t} ----------------------------------------------------------------
    def publish(self, request: Request, topic: str) -> BodyReader:
        """The name is checked on the head, before a byte of the message is read."""
        check_topic(topic)

        def published(request: Request, body: bytes, trailers: Headers) -> Response:
            return json_response(201, {"offset": self.broker.publish(topic, body).offset})

        return buffered(published)(request)

    # -- GET /topics/{t}[?after=N][&wait=S][&limit=L] -------------------------------------
    def read(self, request: Request, topic: str) -> Response | TopicWait:
        check_topic(topic)
        params = query_params(split_target(request.target)[1])
        after = int(query_number(params, "after", default=0, integer=True))
        limit = int(query_number(params, "limit", default=MAX_BATCH, integer=True,
                                 maximum=MAX_BATCH)) or MAX_BATCH
        wait = query_number(params, "wait", default=0.0, maximum=LONG_POLL_MAX_WAIT)
        batch = self.broker.read(topic, after, limit)
        if batch.messages or not wait or after > self.broker.last_offset(topic):
            return json_response(200, batch_view(batch))
        return TopicWait(self.broker, topic, after, limit, monotonic() + wait)

    # -- GET /topics/{t}/stats --------------------------------------------------------
    def stats(self, request: Request, topic: str) -> Response:
        check_topic(topic)
        batch = self.broker.read(topic, 0, 1)
        return json_response(200, {
            "topic": topic, "waiters": self.broker.waiter_count(topic),
            "last": self.broker.last_offset(topic), "oldest": batch.oldest,
        })


class TopicWait:
    """A held long poll on a topic: the Deferred the connection waits on."""

    def __init__(self, broker: Broker, topic: str, after: int, limit: int,
                 deadline: float) -> None:
        self.broker = broker
        self.topic = topic
        self.after = after
        self.limit = limit
        self.deadline = deadline
        self._subscription: Subscription | None = None

    def subscribe(self, wake: Callable[[], None]) -> None:
        self._subscription = self.broker.subscribe(self.topic, wake)

    def poll(self) -> Response | None:
        batch = self.broker.read(self.topic, self.after, self.limit)
        if not batch.messages and monotonic() < self.deadline:
            return None  # woken for nothing new, or early: keep waiting
        self.cancel()
        return json_response(200, batch_view(batch))

    def cancel(self) -> None:
        if self._subscription is not None:
            self.broker.unsubscribe(self._subscription)
            self._subscription = None

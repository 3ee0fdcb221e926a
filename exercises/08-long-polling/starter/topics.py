"""Topics: publish to the broker, and read it by short polling or long polling.

This is the exercise's starter: the names, signatures and docstrings are the lab's;
each body raises NotImplementedError with a hint.
The broker (`lab/broker.py`) is the lab's: use it. Never sleep or loop in a route or
a Deferred: on `--io epoll` one thread serves every connection.

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
    raise NotImplementedError(
        "400 (HTTPError) unless TOPIC matches the whole name; else return the name"
    )


def message_view(message: Message) -> dict:
    """One message as JSON: UTF-8 text, plus base64 of the bytes if they are not UTF-8."""
    raise NotImplementedError(
        '{"offset", "data" (UTF-8 text), "time"}; bytes that are not UTF-8: data decoded '
        'with "replace" plus "data_base64" (base64)'
    )


def batch_view(batch: Batch) -> dict:
    raise NotImplementedError(
        '{"messages": [message_view(m) ...], "next", "oldest", "pruned"} from the Batch'
    )


class Topics:
    """The `/topics/{t}` routes over one shared broker."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    # -- POST /topics/{t} ----------------------------------------------------------------
    def publish(self, request: Request, topic: str) -> BodyReader:
        """The name is checked on the head, before a byte of the message is read."""
        raise NotImplementedError(
            'check the name, then return buffered(handler)(request): the handler (request, '
            'body, trailers: Headers) gets the whole body, publishes it to the broker and '
            'answers 201 {"offset": n}'
        )

    # -- GET /topics/{t}[?after=N][&wait=S][&limit=L] -------------------------------------
    def read(self, request: Request, topic: str) -> Response | TopicWait:
        raise NotImplementedError(
            "after, limit and wait from the query "
            "(query_params(split_target(request.target)[1]), query_number; wait at most "
            "LONG_POLL_MAX_WAIT); read the broker; answer at once (json_response) if there "
            "are messages, no wait, or after is past the last offset; else return a "
            "TopicWait (deadline: monotonic() + wait)"
        )

    # -- GET /topics/{t}/stats --------------------------------------------------------
    def stats(self, request: Request, topic: str) -> Response:
        raise NotImplementedError(
            '{"topic", "waiters": broker.waiter_count(topic), "last", "oldest"} as JSON'
        )


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
        raise NotImplementedError(
            "subscribe `wake` to the topic in the broker; keep the Subscription for "
            "cancel()"
        )

    def poll(self) -> Response | None:
        raise NotImplementedError(
            "read again: messages (or the deadline passed) -> cancel() and answer 200; else "
            "None (keep waiting); never sleep here"
        )

    def cancel(self) -> None:
        raise NotImplementedError(
            "unsubscribe from the broker, once (cancel may come after poll already did it)"
        )

"""The message broker: an append-only, in-memory log per topic, with offsets.

Every delivery pattern reads it: short polling reads, long polling waits then reads,
SSE and WebSocket streams subscribe and read from their cursor. So the same message can
be delivered four ways and compared.

Offsets start at 1 and grow by one per message; a reader asks for messages *after* an
offset (0 = from the start) and gets `next`, the offset to ask after next time. Retention
is bounded per topic, by count and by bytes: the oldest messages are dropped, and a
reader that asks for a dropped offset learns the oldest one still held.

Publishing wakes every subscriber of the topic by calling its `wake()` from the
publishing thread, after the lock is released. A wake only says "look again"; what the
I/O model does with it (set an eventfd, call_soon_threadsafe) is its business.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, NamedTuple

__all__ = ["Broker", "Message", "Batch", "Subscription"]


class Message(NamedTuple):
    offset: int
    data: bytes
    time: float  # time.time() when published


class Batch(NamedTuple):
    messages: list[Message]
    next: int  # pass as `after` to continue
    oldest: int  # the oldest offset still held (next offset to come if none is)
    pruned: bool  # some messages after `after` were dropped by retention


@dataclass(eq=False)
class Subscription:
    topic: str
    wake: Callable[[], None]


class _Topic:
    __slots__ = ("messages", "bytes", "last", "subscribers")

    def __init__(self) -> None:
        self.messages: deque[Message] = deque()
        self.bytes = 0
        self.last = 0  # offset of the newest message ever published
        self.subscribers: set[Subscription] = set()


class Broker:
    def __init__(self, max_messages: int = 10_000, max_bytes: int = 16 << 20) -> None:
        if max_messages <= 0 or max_bytes <= 0:
            raise ValueError("retention limits must be positive")
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._topics: dict[str, _Topic] = {}

    def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = _Topic()
        return topic

    def publish(self, topic: str, data: bytes) -> Message:
        with self._lock:
            t = self._topic(topic)
            t.last += 1
            message = Message(t.last, data, time.time())
            t.messages.append(message)
            t.bytes += len(data)
            while len(t.messages) > self.max_messages or (
                t.bytes > self.max_bytes and len(t.messages) > 1
            ):
                t.bytes -= len(t.messages.popleft().data)
            wakes = [s.wake for s in t.subscribers]
        for wake in wakes:
            wake()
        return message

    def read(self, topic: str, after: int = 0, limit: int = 1000) -> Batch:
        """Messages with offset > after, at most `limit` of them."""
        with self._lock:
            t = self._topics.get(topic)
            if t is None or not t.messages:
                last = t.last if t is not None else 0
                return Batch([], max(after, 0) if after <= last else last, last + 1, after < last)
            messages = t.messages
            oldest = messages[0].offset
            start = max(after + 1 - oldest, 0)  # offsets are contiguous in the deque
            batch = [messages[i] for i in range(start, min(len(messages), start + limit))]
            nxt = batch[-1].offset if batch else min(max(after, 0), t.last)
            return Batch(batch, nxt, oldest, after + 1 < oldest)

    def last_offset(self, topic: str) -> int:
        with self._lock:
            t = self._topics.get(topic)
            return t.last if t is not None else 0

    def subscribe(self, topic: str, wake: Callable[[], None]) -> Subscription:
        subscription = Subscription(topic, wake)
        with self._lock:
            self._topic(topic).subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            t = self._topics.get(subscription.topic)
            if t is not None:
                t.subscribers.discard(subscription)
                if not t.subscribers and t.last == 0:
                    # Waited on but never published to: forget it, so that long polls
                    # on made-up topic names do not grow the table for ever.
                    del self._topics[subscription.topic]

    def waiter_count(self, topic: str | None = None) -> int:
        """Subscribers (waiting long polls, open streams) of one topic or of all."""
        with self._lock:
            if topic is not None:
                t = self._topics.get(topic)
                return len(t.subscribers) if t is not None else 0
            return sum(len(t.subscribers) for t in self._topics.values())
